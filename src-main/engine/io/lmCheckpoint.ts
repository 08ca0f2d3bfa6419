/**
 * Language-model files. A model folder holds `model.safetensors` (Hugging Face GPT-2 tensor names, the tied
 * embedding stored once as `wte.weight`, matrices [in, out] as HF's Conv1D) and `config.json` (HF GPT-2 keys
 * plus a `scalar` block for what GPT-2 has no key for, e.g. DyT). A training folder additionally holds
 * `state.safetensors` (see trainingState.ts).
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import path from 'node:path';
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

/** Reads an HF GPT-2 config.json (n_inner null means 4·n_embd, as in transformers). */
export function fromHfConfig(raw: Record<string, unknown>, source: string): GptConfig {
  const need = (k: string) => {
    if (typeof raw[k] !== 'number') throw new Error(`${source}: config.json lacks a numeric '${k}'`);
    return raw[k] as number;
  };
  const nEmbd = need('n_embd');
  const scalar = (raw.scalar ?? {}) as { norm2?: string; dyt_alpha_init?: number };
  return GptConfigSchema.parse({
    vocabSize: need('vocab_size'),
    contextLength: need('n_positions'),
    dModel: nEmbd,
    nLayer: need('n_layer'),
    nHead: need('n_head'),
    dMlp: typeof raw.n_inner === 'number' ? raw.n_inner : 4 * nEmbd,
    lnEps: typeof raw.layer_norm_epsilon === 'number' ? raw.layer_norm_epsilon : 1e-5,
    norm2: scalar.norm2 ?? 'layernorm',
    dytAlphaInit: scalar.dyt_alpha_init ?? 10,
  });
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

export function saveLmModel(dir: string, gpt: Gpt, metadata: Record<string, string> = {}): void {
  fs.mkdirSync(dir, { recursive: true });
  writeSafetensorsFile(path.join(dir, MODEL_FILE), tensorInputs(gpt.params), { format: 'pt', ...metadata });
  writeJsonAtomic(path.join(dir, CONFIG_FILE), toHfConfig(gpt.config));
}

/** The model configuration of a model folder (or of the config.json beside a model.safetensors path). */
export function readLmConfig(location: string): GptConfig {
  const dir = location.endsWith('.safetensors') ? path.dirname(location) : location;
  const configPath = path.join(dir, CONFIG_FILE);
  if (!fs.existsSync(configPath)) throw new Error(`no config.json in ${dir}`);
  return fromHfConfig(JSON.parse(fs.readFileSync(configPath, 'utf8')), configPath);
}

/**
 * Loads a model folder (or a model.safetensors path with config.json beside it). HF checkpoints' attention
 * mask buffers (`attn.bias`, `attn.masked_bias`), a `transformer.` prefix and a tied `lm_head.weight` are
 * accepted and ignored; any other unexpected, missing or mis-shaped tensor is an error naming it.
 */
export function loadLmModel(location: string): Gpt {
  const dir = location.endsWith('.safetensors') ? path.dirname(location) : location;
  const file = location.endsWith('.safetensors') ? location : path.join(dir, MODEL_FILE);
  if (!fs.existsSync(file)) throw new Error(`no model file at ${file}`);
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
  const tensors: Record<string, tf.Tensor> = {};
  for (const [name, shape] of Object.entries(shapes)) {
    if (!(name in renamed.tensors)) throw new SafetensorsError(`${file}: missing tensor ${name}`);
    const t = expectTensor(renamed, name, 'F32', shape);
    tensors[name] = tf.tensor(t.data, shape, 'float32');
  }
  return Gpt.fromTensors(config, tensors);
}
