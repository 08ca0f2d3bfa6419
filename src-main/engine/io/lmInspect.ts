/**
 * What a model folder holds, read from its config.json and the header of its model.safetensors only (no weights
 * are loaded): the New-run form describes a typed GPT-2 folder ("GPT-2 · 12 blocks · d_model 768 · 124 M params
 * · BPE vocabulary 50,257 · float32") or shows the loader's own error before a job is submitted. The checks are
 * those of readLmWeights short of the values (which would need the data), so what passes here loads unless a
 * weight is not finite.
 */
import { readSafetensorsFileHeader, SafetensorsError } from './safetensors.ts';
import {
  expectedShapes,
  lmModelFile,
  lmTensorName,
  readLmConfig,
  readLmTokenizerName,
  WEIGHT_DTYPES,
  type LmTokenizerName,
} from './lmCheckpoint.ts';
import type { GptConfig } from '../../../src-shared/lm.ts';

export interface LmFolderInfo {
  config: GptConfig;
  tokenizer: LmTokenizerName;
  /** Weights the model computes with (the tied head counted once, as in `sum(p.numel())` of HF's model). */
  params: number;
  /** Storage types of its weights, e.g. ['F32'] or ['F16']. */
  dtypes: string[];
  file: string;
}

const DTYPE_WORDS: Record<string, string> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

/** Reads and checks a model folder (or model.safetensors path) without its tensor data; throws the loader's errors. */
export function inspectLmFolder(location: string): LmFolderInfo {
  const config = readLmConfig(location);
  const tokenizer = readLmTokenizerName(location);
  const file = lmModelFile(location);
  const header = readSafetensorsFileHeader(file);
  const entries = new Map<string, { dtype: string; shape: number[] }>();
  for (const [name, entry] of Object.entries(header.tensors)) {
    const n = lmTensorName(name);
    if (n !== null) entries.set(n, entry);
  }
  const shapes = expectedShapes(config);
  const unexpected = [...entries.keys()].filter((n) => !(n in shapes));
  if (unexpected.length)
    throw new SafetensorsError(
      `${file}: unexpected tensors for this config: ${unexpected.slice(0, 5).join(', ')}`,
    );
  let params = 0;
  const dtypes = new Set<string>();
  for (const [name, shape] of Object.entries(shapes)) {
    const t = entries.get(name);
    if (!t) throw new SafetensorsError(`${file}: missing tensor ${name}`);
    const shapeOk = t.shape.length === shape.length && shape.every((d, i) => d === t.shape[i]);
    if (!WEIGHT_DTYPES.includes(t.dtype) || !shapeOk)
      throw new SafetensorsError(
        `${file}: tensor '${name}': expected F32 ${JSON.stringify(shape)}, got ${t.dtype} ${JSON.stringify(t.shape)}` +
          (shapeOk ? '; model weights must be F32, F16 or BF16' : ' (its shape does not match config.json)'),
      );
    params += shape.reduce((a, d) => a * d, 1);
    dtypes.add(t.dtype);
  }
  return { config, tokenizer, params, dtypes: [...dtypes].sort(), file };
}

/** "124 M", "1.8 M", "85 k", "960". */
export function roundedCount(n: number): string {
  if (n >= 1e6) return `${n >= 1e8 ? Math.round(n / 1e6) : (n / 1e6).toFixed(1)} M`;
  if (n >= 1e4) return `${Math.round(n / 1e3)} k`;
  return String(n);
}

/** The folder in one line: "GPT-2 · 12 blocks · d_model 768 · 124 M params · BPE vocabulary 50,257 · float32". */
export function describeLmFolder(info: LmFolderInfo): string {
  const c = info.config;
  const vocab = c.vocabSize.toLocaleString('en-US');
  return [
    info.tokenizer === 'gpt2' ? 'GPT-2' : 'Character-level GPT',
    `${c.nLayer} block${c.nLayer === 1 ? '' : 's'}`,
    `d_model ${c.dModel}`,
    `${roundedCount(info.params)} params`,
    info.tokenizer === 'gpt2' ? `BPE vocabulary ${vocab}` : `character vocabulary ${vocab}`,
    info.dtypes.map((d) => DTYPE_WORDS[d] ?? d).join('/'),
  ].join(' · ');
}
