/**
 * Language-model files. A model folder holds `model.safetensors` (Hugging Face GPT-2 tensor names, the tied
 * embedding stored once as `wte.weight`, matrices [in, out] as HF's Conv1D) and `config.json` (HF GPT-2 keys
 * plus a `scalar` block for what GPT-2 has no key for, e.g. DyT). A training folder additionally holds
 * `state.safetensors` (see trainingState.ts).
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import path from 'node:path';
import { formatIssues, showValue } from '../../../src-shared/issues.ts';
import { GptConfigSchema, type GptConfig } from '../../../src-shared/lm.ts';
import { Gpt } from '../lm/gpt.ts';
import { GPT2_VOCAB_SIZE, tokenizerNamed } from '../text/bpe.ts';
import type { Tokenizer } from '../text/tokenizer.ts';
import { expectTensor, readSafetensorsFile, SafetensorsError, writeSafetensorsFile } from './safetensors.ts';
import { tensorInputs, writeJsonAtomic } from './trainingState.ts';

export const MODEL_FILE = 'model.safetensors';
export const CONFIG_FILE = 'config.json';

export interface HfGpt2Config {
  model_type: 'gpt2';
  vocab_size: number;
  n_positions: number;
  n_embd: number;
  n_layer: number;
  n_head: number;
  n_inner: number;
  layer_norm_epsilon: number;
  activation_function: 'gelu_new';
  tie_word_embeddings: true;
  scalar?: { norm2: GptConfig['norm2']; dyt_alpha_init?: number };
}

export function toHfConfig(c: GptConfig): HfGpt2Config {
  return {
    model_type: 'gpt2',
    vocab_size: c.vocabSize,
    n_positions: c.contextLength,
    n_embd: c.dModel,
    n_layer: c.nLayer,
    n_head: c.nHead,
    n_inner: c.dMlp,
    layer_norm_epsilon: c.lnEps,
    activation_function: 'gelu_new',
    tie_word_embeddings: true,
    scalar: { norm2: c.norm2, dyt_alpha_init: c.dytAlphaInit },
  };
}

/** Our config fields → the HF keys they are read from, so a problem names the key the file has. */
const HF_KEY: Record<string, string> = {
  vocabSize: 'vocab_size',
  contextLength: 'n_positions',
  dModel: 'n_embd',
  nLayer: 'n_layer',
  nHead: 'n_head',
  dMlp: 'n_inner',
  lnEps: 'layer_norm_epsilon',
  norm2: 'scalar.norm2',
  dytAlphaInit: 'scalar.dyt_alpha_init',
};

/** HF GPT-2 activations that are the tanh approximation our MLP computes (SPEC §1.1). */
const TANH_GELU = ['gelu_new', 'gelu_pytorch_tanh'];

/**
 * Refuses configs that are not GPT-2 or that GPT-2 options our block maths does not compute, naming the key:
 * another `model_type` / `architectures`, another activation, an untied head, unscaled or layer-scaled attention.
 */
function checkGpt2Architecture(raw: Record<string, unknown>, source: string): void {
  const only = 'only GPT-2 checkpoints are supported';
  if (raw.model_type !== undefined && raw.model_type !== 'gpt2')
    throw new Error(
      `${source} describes a ${showValue(raw.model_type)} model ('model_type'); ${only} (model_type "gpt2")`,
    );
  const archs = raw.architectures;
  if (
    Array.isArray(archs) &&
    archs.length &&
    !archs.some((a) => a === 'GPT2LMHeadModel' || a === 'GPT2Model')
  )
    throw new Error(
      `${source} describes ${archs.map((a) => showValue(a)).join(', ')} ('architectures'); ${only} (GPT2LMHeadModel)`,
    );
  const act = raw.activation_function;
  if (act !== undefined && !TANH_GELU.includes(act as string))
    throw new Error(
      `'activation_function' must be ${TANH_GELU.map((a) => `"${a}"`).join(' or ')} (GELU, tanh approximation; got ${showValue(act)}) in ${source}`,
    );
  if (raw.tie_word_embeddings === false)
    throw new Error(
      `'tie_word_embeddings' is false in ${source}; only a head tied to the token embedding is supported`,
    );
  if (raw.scale_attn_weights === false)
    throw new Error(
      `'scale_attn_weights' is false in ${source}; only attention scaled by 1/√head_dim is supported`,
    );
  if (raw.scale_attn_by_inverse_layer_idx === true)
    throw new Error(`'scale_attn_by_inverse_layer_idx' is true in ${source}; it is not supported`);
}

/** Reads an HF GPT-2 config.json (n_inner null means 4·n_embd, as in transformers). */
export function fromHfConfig(raw: Record<string, unknown>, source: string): GptConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new Error(`${source} must hold a JSON object (got ${showValue(raw)})`);
  checkGpt2Architecture(raw, source);
  const need = (k: string) => {
    if (raw[k] === undefined) throw new Error(`'${k}' is missing in ${source}`);
    if (typeof raw[k] !== 'number')
      throw new Error(`'${k}' must be a number (got ${showValue(raw[k])}) in ${source}`);
    return raw[k] as number;
  };
  const nEmbd = need('n_embd');
  const scalar = (raw.scalar ?? {}) as { norm2?: string; dyt_alpha_init?: number };
  const input = {
    vocabSize: need('vocab_size'),
    // Old GPT-2 configs may give only n_ctx (the same number).
    contextLength:
      raw.n_positions === undefined && typeof raw.n_ctx === 'number' ? raw.n_ctx : need('n_positions'),
    dModel: nEmbd,
    nLayer: need('n_layer'),
    nHead: need('n_head'),
    dMlp: typeof raw.n_inner === 'number' ? raw.n_inner : 4 * nEmbd,
    lnEps: typeof raw.layer_norm_epsilon === 'number' ? raw.layer_norm_epsilon : 1e-5,
    norm2: scalar.norm2 ?? 'layernorm',
    dytAlphaInit: scalar.dyt_alpha_init ?? 10,
  };
  const parsed = GptConfigSchema.safeParse(input);
  if (!parsed.success)
    throw new Error(
      formatIssues(parsed.error.issues, {
        schema: GptConfigSchema,
        input,
        subject: (p) => `'${HF_KEY[String(p[0])] ?? String(p[0])}'`,
        where: `in ${source}`,
      }),
    );
  if (parsed.data.dModel % parsed.data.nHead !== 0)
    throw new Error(
      `'n_embd' (${parsed.data.dModel}) must be a multiple of 'n_head' (${parsed.data.nHead}) in ${source}`,
    );
  return parsed.data;
}

/** Expected tensor names and shapes of a GPT with this config. */
export function expectedShapes(c: GptConfig): Record<string, number[]> {
  const { vocabSize: V, contextLength: T, dModel: D, nLayer: L, dMlp: M } = c;
  const shapes: Record<string, number[]> = {
    'wte.weight': [V, D],
    'wpe.weight': [T, D],
    'ln_f.weight': [D],
    'ln_f.bias': [D],
  };
  for (let l = 0; l < L; l++) {
    const h = `h.${l}`;
    Object.assign(shapes, {
      [`${h}.ln_1.weight`]: [D],
      [`${h}.ln_1.bias`]: [D],
      [`${h}.attn.c_attn.weight`]: [D, 3 * D],
      [`${h}.attn.c_attn.bias`]: [3 * D],
      [`${h}.attn.c_proj.weight`]: [D, D],
      [`${h}.attn.c_proj.bias`]: [D],
      [`${h}.ln_2.weight`]: [D],
      [`${h}.ln_2.bias`]: [D],
      [`${h}.mlp.c_fc.weight`]: [D, M],
      [`${h}.mlp.c_fc.bias`]: [M],
      [`${h}.mlp.c_proj.weight`]: [M, D],
      [`${h}.mlp.c_proj.bias`]: [D],
    });
    if (c.norm2 === 'dyt') shapes[`${h}.ln_2.alpha`] = [];
  }
  return shapes;
}

export async function saveLmModel(
  dir: string,
  gpt: Gpt,
  metadata: Record<string, string> = {},
): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const tensors = await tensorInputs(gpt.params);
  writeSafetensorsFile(path.join(dir, MODEL_FILE), tensors, { format: 'pt', ...metadata });
  writeJsonAtomic(path.join(dir, CONFIG_FILE), toHfConfig(gpt.config));
}

/** The model configuration of a model folder (or of the config.json beside a model.safetensors path). */
export function readLmConfig(location: string): GptConfig {
  const { raw, configPath } = readRawConfig(location);
  return fromHfConfig(raw, configPath);
}

function readRawConfig(location: string): { raw: Record<string, unknown>; configPath: string } {
  const dir = location.endsWith('.safetensors') ? path.dirname(location) : location;
  const configPath = path.join(dir, CONFIG_FILE);
  if (!fs.existsSync(configPath)) throw new Error(`no config.json in ${dir}`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(configPath, 'utf8'));
  } catch (err) {
    throw new Error(`${configPath} is not valid JSON (${(err as Error).message})`);
  }
  return { raw: raw as Record<string, unknown>, configPath };
}

/** The tokenizer a model folder's ids belong to. */
export type LmTokenizerName = 'ascii' | 'gpt2';

/**
 * The tokenizer of a model folder: `scalar.tokenizer` in config.json when given; otherwise GPT-2 BPE (SPEC §1.3)
 * when the vocabulary holds all 50,257 GPT-2 ids (a Hugging Face GPT-2 folder), else the character tokenizer of
 * the toy models (SPEC §1.1; its 128 ids fit any smaller vocabulary used by tests).
 */
export function readLmTokenizerName(location: string): LmTokenizerName {
  const { raw, configPath } = readRawConfig(location);
  const named = (raw.scalar as { tokenizer?: unknown } | null | undefined)?.tokenizer;
  if (named === undefined)
    return typeof raw.vocab_size === 'number' && raw.vocab_size >= GPT2_VOCAB_SIZE ? 'gpt2' : 'ascii';
  if (named !== 'ascii' && named !== 'gpt2')
    throw new Error(
      `'scalar.tokenizer' must be "ascii" or "gpt2" (got ${showValue(named)}) in ${configPath}`,
    );
  if (named === 'gpt2' && !(typeof raw.vocab_size === 'number' && raw.vocab_size >= GPT2_VOCAB_SIZE))
    throw new Error(
      `'scalar.tokenizer' is "gpt2" but 'vocab_size' is ${showValue(raw.vocab_size)}; GPT-2 BPE needs ${GPT2_VOCAB_SIZE} ids, in ${configPath}`,
    );
  return named;
}

/** The tokenizer of a model folder (readLmTokenizerName). */
export function readLmTokenizer(location: string): Tokenizer {
  return tokenizerNamed(readLmTokenizerName(location));
}

/** Weight dtypes a model file may use; F16 and BF16 are widened to F32 on load. */
export const WEIGHT_DTYPES = ['F32', 'F16', 'BF16'];

/**
 * The weights file of a model folder (or the given model.safetensors path); a folder with only pytorch_model.bin
 * is refused saying how to convert it.
 */
export function lmModelFile(location: string): string {
  const dir = location.endsWith('.safetensors') ? path.dirname(location) : location;
  const file = location.endsWith('.safetensors') ? location : path.join(dir, MODEL_FILE);
  if (!fs.existsSync(file)) {
    const pickle = path.join(dir, 'pytorch_model.bin');
    if (fs.existsSync(pickle))
      throw new Error(
        `${dir} has pytorch_model.bin but no ${MODEL_FILE}: PyTorch pickle files are not loaded (unpickling can run code); ` +
          `convert it to safetensors first (e.g. in Python: GPT2LMHeadModel.from_pretrained(dir).save_pretrained(dir, safe_serialization=True))`,
      );
    throw new Error(`no model file at ${file}`);
  }
  if (!fs.statSync(file).isFile()) throw new Error(`${file} is not a file`);
  return file;
}

/**
 * A checkpoint tensor's name as our model knows it, or null for one that is ignored: HF's `transformer.` prefix
 * is dropped; the attention mask buffers and a tied `lm_head.weight` are not weights of ours.
 */
export function lmTensorName(name: string): string | null {
  const n = name.startsWith('transformer.') ? name.slice('transformer.'.length) : name;
  return /^h\.\d+\.attn\.(bias|masked_bias)$/.test(n) || n === 'lm_head.weight' ? null : n;
}

/**
 * The tensors of a model folder, checked without tfjs: every expected name with its shape and dtype F32 (F16 and
 * BF16 widened to F32), no unexpected one, and every value finite; a folder with only pytorch_model.bin is refused. HF checkpoints' attention mask buffers (`attn.bias`,
 * `attn.masked_bias`), a `transformer.` prefix and a tied `lm_head.weight` are accepted and ignored; anything
 * else that is wrong is an error naming the file and the tensor.
 */
export function readLmWeights(location: string): {
  config: GptConfig;
  file: string;
  tensors: Record<string, Float32Array>;
} {
  const file = lmModelFile(location);
  const config = readLmConfig(location);
  const decoded = readSafetensorsFile(file);
  const renamed: typeof decoded = { tensors: {}, metadata: decoded.metadata };
  for (const [name, t] of Object.entries(decoded.tensors)) {
    const n = lmTensorName(name);
    if (n !== null) renamed.tensors[n] = t;
  }
  const shapes = expectedShapes(config);
  const unexpected = Object.keys(renamed.tensors).filter((n) => !(n in shapes));
  if (unexpected.length)
    throw new SafetensorsError(
      `${file}: unexpected tensors for this config: ${unexpected.slice(0, 5).join(', ')}`,
    );
  const tensors: Record<string, Float32Array> = {};
  for (const [name, shape] of Object.entries(shapes)) {
    if (!(name in renamed.tensors)) throw new SafetensorsError(`${file}: missing tensor ${name}`);
    const dtype = renamed.tensors[name].dtype;
    if (!WEIGHT_DTYPES.includes(dtype))
      throw new SafetensorsError(
        `${file}: tensor '${name}': expected F32 ${JSON.stringify(shape)}, got ${dtype} ${JSON.stringify(renamed.tensors[name].shape)}; ` +
          `model weights must be F32, F16 or BF16 (F16 and BF16 are widened to F32 on load)`,
      );
    let t;
    try {
      t = expectTensor(renamed, name, dtype, shape);
    } catch (err) {
      throw new SafetensorsError(
        `${file}: ${(err as Error).message} (config.json: ${describeConfig(config)})`,
      );
    }
    const data = t.data as Float32Array;
    const bad = firstNonFinite(data);
    if (bad >= 0)
      throw new SafetensorsError(
        `${file}: tensor ${name} holds ${data[bad]} at index ${bad}; the model's weights must all be finite`,
      );
    tensors[name] = data;
  }
  return { config, file, tensors };
}

function describeConfig(c: GptConfig): string {
  return `vocab ${c.vocabSize}, context ${c.contextLength}, d_model ${c.dModel}, ${c.nLayer} layers, MLP ${c.dMlp}`;
}

/** Index of the first NaN or ±Infinity, or -1. */
export function firstNonFinite(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return i;
  return -1;
}

/** Loads a model folder (or a model.safetensors path with config.json beside it), checked as readLmWeights. */
export function loadLmModel(location: string): Gpt {
  const { config, tensors } = readLmWeights(location);
  const shapes = expectedShapes(config);
  const out: Record<string, tf.Tensor> = {};
  for (const [name, shape] of Object.entries(shapes)) out[name] = tf.tensor(tensors[name], shape, 'float32');
  return Gpt.fromTensors(config, out);
}
