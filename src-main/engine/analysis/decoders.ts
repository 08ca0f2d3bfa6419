/**
 * Where one hook's decoder lives in an SAE run's best checkpoint (`best/<group>.safetensors`, see
 * sae/checkpoint.ts), without building the SaeSet (no tfjs, no initialisation): the group file, the dictionary
 * tensor `<dict>.W_dec` and how many of its rows the hook uses (a staircase position uses a prefix). Mirrors
 * the naming of SaeSet; test/unit/latentMatching.test.ts checks the two agree for every architecture.
 */
import path from 'node:path';
import type { SaeArch, SaeSetup } from '../../../src-shared/sae.ts';
import { readSafetensorsFile } from '../io/safetensors.ts';
import { BEST_DIR } from '../sae/checkpoint.ts';
import { setupPositions } from '../sae/positions.ts';

export interface DecoderSource {
  group: string;
  tensor: string;
  rows: number;
  /** Staircase chunk size and position within the staircase (null / 0 otherwise). */
  chunk: number | null;
  position: number;
}

export function decoderSource(
  s: { arch: SaeArch; setup: SaeSetup; width: number; layers?: number[] },
  hook: string,
  nLayer: number,
): DecoderSource {
  const { hooks, pairs } = setupPositions(s.setup, nLayer, s.layers);
  if (!hooks.includes(hook))
    throw new Error(`no SAE at ${hook} in a ${s.setup} run (hooks: ${hooks.join(', ')})`);
  const n = s.width;
  // One dictionary per hook: TopK and the imported ReLU / JumpReLU SAEs.
  if (s.arch === 'topk' || s.arch === 'relu' || s.arch === 'jumprelu')
    return { group: hook, tensor: `${hook}.W_dec`, rows: n, chunk: null, position: 0 };
  if (s.arch === 'jsae') {
    const p = pairs.find((q) => q.up === hook || q.down === hook)!;
    return { group: `pair${p.index}`, tensor: `${hook}.W_dec`, rows: n, chunk: null, position: 0 };
  }
  const stair =
    s.setup === 'tblock'
      ? { name: 'staircase', hooks }
      : (() => {
          const p = pairs.find((q) => q.up === hook || q.down === hook)!;
          return { name: `staircase${p.layer}`, hooks: [p.up, p.down] };
        })();
  const P = stair.hooks.length;
  const position = stair.hooks.indexOf(hook);
  const rows = s.arch === 'staircase-tied-all' ? n * P : n * (position + 1);
  const dict = s.arch === 'staircase-untied' ? `${stair.name}.${hook}` : stair.name;
  return { group: stair.name, tensor: `${dict}.W_dec`, rows, chunk: n, position };
}

/** The hook's decoder rows [rows, D] from a run folder's best checkpoint. */
export function readDecoder(
  runDir: string,
  src: DecoderSource,
): { data: Float32Array; rows: number; D: number } {
  const file = path.join(runDir, BEST_DIR, `${src.group}.safetensors`);
  const t = readSafetensorsFile(file).tensors[src.tensor];
  if (!t) throw new Error(`${file} has no tensor ${src.tensor}`);
  const D = t.shape[1];
  if (t.shape[0] < src.rows)
    throw new Error(`${src.tensor} has ${t.shape[0]} rows, the hook uses ${src.rows}`);
  return { data: (t.data as Float32Array).slice(0, src.rows * D), rows: src.rows, D };
}
