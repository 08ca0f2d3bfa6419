/**
 * SCALAR's ablation pass on the device (scalar/ablationDevice.ts): assembles R [N, F₁] of one budget from
 * device tensors, steered by small index arrays the host computed from the unit keys (SPEC §4.3):
 *
 *   base stage     R[g] = 0 | preFull[g] | preEmpty[position row, column] | prevR[g]   by code[g] = −1 | 0 | 1 | 2
 *   scatter stage  R[tgt[e]] = pre_b[e] for every entry e of batch b's pre-activations with tgt[e] ≥ 0
 *
 * The scatter targets of one budget are distinct (each (token, j) comes from one unit), and every element is
 * written by one invocation with no arithmetic: the result is exact and deterministic. Elements a batch fills
 * get 0 in the base stage first, so every element of R is written (pooled buffers are not zeroed).
 *
 * There is no SIMD twin: on the CPU backends the same assembly is a host loop over arrays (scalar/ablation.ts).
 */
import type * as tf from '@tensorflow/tfjs';
import {
  alloc,
  runStage,
  size,
  stageCode,
  i32,
  type Attrs,
  type Binding,
  type Info,
  type Inputs,
} from './dispatch.ts';

const UNIFORMS: Binding[] = [
  ['n', 'i32'],
  ['F1', 'i32'],
  ['T', 'i32'],
  ['perSequence', 'i32'],
];

const BASE_CODE = stageCode(
  UNIFORMS,
  '',
  [['R', 'f32']],
  [
    ['code', 'i32'],
    ['full', 'f32'],
    ['empty', 'f32'],
    ['prev', 'f32'],
  ],
  `  let c = code[gid];
  let j = gid % u.F1;
  // The empty input's pre-activations: one row per position of a sequence (a block mixes positions), or
  // one row for every token of a position-local segment.
  let er = select(j, ((gid / u.F1) % u.T) * u.F1 + j, u.perSequence == 1);
  var v = 0.0;
  if (c == 0) { v = full[gid]; } else if (c == 1) { v = empty[er]; } else if (c == 2) { v = prev[gid]; }
  R[gid] = v;`,
);

const SCATTER_CODE = stageCode(
  UNIFORMS,
  '',
  [['R', 'f32']],
  [
    ['pre', 'f32'],
    ['tgt', 'i32'],
  ],
  `  let t = tgt[gid];
  if (t >= 0) { R[t] = pre[gid]; }`,
);

/**
 * Inputs: code [N·F₁] (int32), full [N, F₁], empty [T or 1, F₁], prev [N, F₁] (any [N, F₁] tensor when no code
 * is 2), then pre0, tgt0, pre1, tgt1, … for `batches` batches. Attributes: T, perSequence (0/1), batches.
 * Output: R [N, F₁].
 */
export function ablationAssemble(backend: tf.KernelBackend, inputs: Inputs, attrs: Attrs): Info {
  const { code, full, empty, prev } = inputs;
  const [N, F1] = full.shape;
  const rest = [i32(F1), i32(attrs.T), i32(attrs.perSequence)];
  const R = alloc(backend, [N, F1]);
  runStage(backend, 'ablation-base', BASE_CODE, [R], [code, full, empty, prev], N * F1, rest);
  for (let b = 0; b < attrs.batches; b++) {
    const pre = inputs[`pre${b}`];
    runStage(backend, 'ablation-scatter', SCATTER_CODE, [R], [pre, inputs[`tgt${b}`]], size(pre.shape), rest);
  }
  return R;
}
