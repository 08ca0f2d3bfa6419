/**
 * Resumable training state shared by every trainer: parameters + AdamW moments + the step + trainer-specific
 * scalars, in one `state.safetensors` written atomically (a killed process leaves the previous file).
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import path from 'node:path';
import {
  readSafetensorsFile,
  writeSafetensorsFile,
  type TensorEntry,
  type TensorInput,
} from './safetensors.ts';

export const STATE_FILE = 'state.safetensors';

/** The tensors' values for a safetensors file, read asynchronously (works on every backend, webgpu included). */
export async function tensorInputs(tensors: Record<string, tf.Tensor>): Promise<Record<string, TensorInput>> {
  const entries = Object.entries(tensors);
  const values = await Promise.all(entries.map(([, t]) => t.data() as Promise<Float32Array>));
  const out: Record<string, TensorInput> = {};
  entries.forEach(([name, t], i) => (out[name] = { dtype: 'F32', shape: t.shape, data: values[i] }));
  return out;
}

export interface TrainingState {
  step: number;
  /** Trainer-specific scalars (best validation loss, its step, ...), restored verbatim on resume. */
  extra: Record<string, unknown>;
}

/**
 * `host`: arrays kept outside tfjs that belong to the same state (e.g. an activation stream's buffer), stored as
 * `data.<name>` in the same file, so a killed process never leaves parameters and data of different steps.
 */
export async function saveTrainingState(
  dir: string,
  params: Record<string, tf.Tensor>,
  optimizerState: Record<string, tf.Tensor>,
  state: TrainingState,
  host: Record<string, TensorInput> = {},
): Promise<void> {
  const tensors: Record<string, tf.Tensor> = {};
  for (const [n, t] of Object.entries(params)) tensors[`param.${n}`] = t;
  for (const [n, t] of Object.entries(optimizerState)) tensors[`opt.${n}`] = t;
  const all = await tensorInputs(tensors);
  for (const [n, t] of Object.entries(host)) all[`data.${n}`] = t;
  writeSafetensorsFile(path.join(dir, STATE_FILE), all, { state: JSON.stringify(state) });
}

export function loadTrainingState(dir: string): {
  params: Record<string, Float32Array>;
  optimizer: Record<string, tf.Tensor>;
  state: TrainingState;
  /** The `host` arrays saved with the state. */
  host: Record<string, TensorEntry>;
} | null {
  const file = path.join(dir, STATE_FILE);
  if (!fs.existsSync(file)) return null;
  const decoded = readSafetensorsFile(file);
  const params: Record<string, Float32Array> = {};
  const optimizer: Record<string, tf.Tensor> = {};
  const host: Record<string, TensorEntry> = {};
  for (const [name, t] of Object.entries(decoded.tensors)) {
    if (name.startsWith('param.')) params[name.slice(6)] = t.data as Float32Array;
    else if (name.startsWith('opt.')) optimizer[name.slice(4)] = tf.tensor(t.data as Float32Array, t.shape);
    else if (name.startsWith('data.')) host[name.slice(5)] = t;
  }
  const state = JSON.parse(decoded.metadata.state ?? 'null') as TrainingState | null;
  if (!state) throw new Error(`${file}: training state has no step metadata`);
  return { params, optimizer, state, host };
}

export function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n');
  fs.renameSync(tmp, file);
}

/**
 * Restores parameters and optimizer moments from a loaded state into a trainer's variables; a parameter missing
 * or of another size means the state belongs to another configuration (`what` names it in the error).
 */
export function restoreTrainingState(
  resumed: NonNullable<ReturnType<typeof loadTrainingState>>,
  params: Record<string, tf.Variable>,
  optimizer: { loadState(step: number, tensors: Record<string, tf.Tensor>): void },
  what: string,
): void {
  for (const [name, v] of Object.entries(params)) {
    const values = resumed.params[name];
    if (!values || values.length !== v.size)
      throw new Error(`the saved training state does not match this ${what} (${name})`);
    tf.tidy(() => v.assign(tf.tensor(values, v.shape))); // the assigned tensor would otherwise outlive the variable
  }
  optimizer.loadState(resumed.state.step, resumed.optimizer);
  tf.dispose(Object.values(resumed.optimizer));
}
