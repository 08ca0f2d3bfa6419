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

/** Reads an HF GPT-2 config.json (n_inner null means 4·n_embd, as in transformers). */
export function fromHfConfig(raw: Record<string, unknown>, source: string): GptConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new Error(`${source} must hold a JSON object (got ${showValue(raw)})`);
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
    contextLength: need('n_positions'),
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
  const dir = location.endsWith('.safetensors') ? path.dirname(location) : location;
  const configPath = path.join(dir, CONFIG_FILE);
  if (!fs.existsSync(configPath)) throw new Error(`no config.json in ${dir}`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(configPath, 'utf8'));
  } catch (err) {
    throw new Error(`${configPath} is not valid JSON (${(err as Error).message})`);
  }
  return fromHfConfig(raw as Record<string, unknown>, configPath);
}

/**
 * The tensors of a model folder, checked without tfjs: every expected name with its shape and dtype F32, no
 * unexpected one, and every value finite. HF checkpoints' attention mask buffers (`attn.bias`,
 * `attn.masked_bias`), a `transformer.` prefix and a tied `lm_head.weight` are accepted and ignored; anything
 * else that is wrong is an error naming the file and the tensor.
 */
export function readLmWeights(location: string): {
  config: GptConfig;
  file: string;
  tensors: Record<string, Float32Array>;
} {
  const dir = location.endsWith('.safetensors') ? path.dirname(location) : location;
  const file = location.endsWith('.safetensors') ? location : path.join(dir, MODEL_FILE);
  if (!fs.existsSync(file)) throw new Error(`no model file at ${file}`);
  if (!fs.statSync(file).isFile()) throw new Error(`${file} is not a file`);
  const config = readLmConfig(location);
  const decoded = readSafetensorsFile(file);
  const renamed: typeof decoded = { tensors: {}, metadata: decoded.metadata };
  for (const [name, t] of Object.entries(decoded.tensors)) {
    const n = name.startsWith('transformer.') ? name.slice('transformer.'.length) : name;
    if (/^h\.\d+\.attn\.(bias|masked_bias)$/.test(n) || n === 'lm_head.weight') continue;
    renamed.tensors[n] = t;
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
    const t = expectTensor(renamed, name, 'F32', shape);
    const bad = firstNonFinite(t.data);
    if (bad >= 0)
      throw new SafetensorsError(
        `${file}: tensor ${name} holds ${t.data[bad]} at index ${bad}; the model's weights must all be finite`,
      );
    tensors[name] = t.data;
  }
  return { config, file, tensors };
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
