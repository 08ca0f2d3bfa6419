/**
 * SAE checkpoints: the best parameters of each group (a staircase, a JSAE pair or a single SAE) in
 * `best/<group>.safetensors`, and rebuilding a trained SaeSet from a run folder.
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import path from 'node:path';
import type { GptConfig } from '../../../src-shared/lm.ts';
import type { SaeStructure } from '../../../src-shared/sae.ts';
import { readSafetensorsFile, writeSafetensorsFile } from '../io/safetensors.ts';
import { tensorInputs } from '../io/trainingState.ts';
import { SaeSet } from './saeSet.ts';

export const BEST_DIR = 'best';

function groupParams(set: SaeSet, g: { hooks: string[] }): Record<string, tf.Variable> {
  const views = set.views.filter((v) => g.hooks.includes(v.hook));
  const mine = new Set<tf.Variable>(
    views.flatMap((v) => [v.dict.wEnc, v.dict.wDec, v.bEnc, v.bDec, ...(v.threshold ? [v.threshold] : [])]),
  );
  return Object.fromEntries(Object.entries(set.params()).filter(([, v]) => mine.has(v)));
}

export async function saveGroup(
  outDir: string,
  set: SaeSet,
  g: { name: string; hooks: string[] },
): Promise<void> {
  fs.mkdirSync(path.join(outDir, BEST_DIR), { recursive: true });
  const tensors = await tensorInputs(groupParams(set, g));
  writeSafetensorsFile(path.join(outDir, BEST_DIR, `${g.name}.safetensors`), tensors);
}

export function loadGroup(outDir: string, set: SaeSet, g: { name: string; hooks: string[] }): void {
  const file = path.join(outDir, BEST_DIR, `${g.name}.safetensors`);
  const saved = readSafetensorsFile(file).tensors;
  for (const [name, v] of Object.entries(groupParams(set, g))) {
    const t = saved[name];
    if (!t) throw new Error(`${file} lacks ${name}`);
    tf.tidy(() => v.assign(tf.tensor(t.data as Float32Array, v.shape)));
  }
}

/** The trained SAEs of a run folder (best checkpoint of every group), built for the run's LM. */
export function loadSaeSet(runDir: string, config: SaeStructure, lm: GptConfig): SaeSet {
  const set = new SaeSet({
    arch: config.arch,
    setup: config.setup,
    width: config.width,
    k: config.k,
    dModel: lm.dModel,
    nLayer: lm.nLayer,
    seed: config.seed,
    layers: config.layers,
  });
  try {
    for (const g of set.groups) {
      if (!fs.existsSync(path.join(runDir, BEST_DIR, `${g.name}.safetensors`)))
        throw new Error(`${runDir} has no best checkpoint for ${g.name}`);
      loadGroup(runDir, set, g);
    }
    return set;
  } catch (err) {
    set.dispose();
    throw err;
  }
}
