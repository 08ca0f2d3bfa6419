/**
 * Groups the (token, slot) entries of sparse codes by latent without atomics: a bitonic sort of the entry
 * numbers by (latent, entry), then the first position of each latent by binary search. A latent's entries are
 * then `order[start[f]] … order[start[f + 1] − 1]`, in entry (token) order: the order the SIMD kernels add in,
 * so a scatter-add into latent rows becomes a gather that sums in a fixed order (deterministic run to run).
 *
 * `off` selects entries idx[off … off + NK − 1] (a chunk of tokens); the returned entry numbers are relative to it.
 */
import type * as tf from '@tensorflow/tfjs';
import { bindings, dispatch, FLAT_GROUP, flatMain, grid, i32, threads, type Info } from './dispatch.ts';

const SORT_INIT_CODE = `
${bindings([['order', 'i32']], [], [['M', 'i32']])}
${flatMain(`  if (gid >= u.M) { return; }
  order[gid] = gid;`)}`;

/**
 * Stages whose distance jj is below the block size L run together in workgroup memory (one dispatch per block
 * level); the wider ones one dispatch per stage. Padding entries (≥ NK) sort last.
 */
const SORT_L = 256; // elements per workgroup block (128 invocations, two elements each)
const SORT_KEY = `
fn key(e: i32) -> i32 { return select(0x7fffffff, idx[u.off + e], e < u.NK); }
fn greater(a: i32, b: i32) -> bool { let ka = key(a); let kb = key(b); return ka > kb || (ka == kb && a > b); }`;

const SORT_STEP_CODE = `
${bindings(
  [['order', 'i32']],
  [['idx', 'i32']],
  [
    ['M', 'i32'],
    ['NK', 'i32'],
    ['kk', 'i32'],
    ['jj', 'i32'],
    ['off', 'i32'],
  ],
)}
${SORT_KEY}
${flatMain(`  if (gid >= u.M) { return; }
  let l = gid ^ u.jj;
  if (l <= gid) { return; }
  let a = order[gid];
  let b = order[l];
  let up = (gid & u.kk) == 0;
  if (greater(a, b) == up) { order[gid] = b; order[l] = a; }`)}`;

/** Stages (kk, jj) for jj = jStart, jStart/2, …, 1 within blocks of SORT_L; kk = 0 sorts each block from scratch. */
const SORT_LOCAL_CODE = `
${bindings(
  [['order', 'i32']],
  [['idx', 'i32']],
  [
    ['M', 'i32'],
    ['NK', 'i32'],
    ['kk', 'i32'],
    ['jStart', 'i32'],
    ['off', 'i32'],
  ],
)}
${SORT_KEY}
var<workgroup> blk: array<i32, ${SORT_L}>;
fn stage(kk: i32, jj: i32, lid: i32, base: i32) {
  // Invocation lid handles the pair (i, i + jj) with i the lid-th index whose jj bit is clear.
  let i = (lid / jj) * 2 * jj + (lid % jj);
  let l = i + jj;
  let a = blk[i];
  let b = blk[l];
  let up = ((base + i) & kk) == 0;
  if (greater(a, b) == up) { blk[i] = b; blk[l] = a; }
  workgroupBarrier();
}
@compute @workgroup_size(${SORT_L / 2})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidu: u32) {
  let lid = i32(lidu);
  let base = i32(${FLAT_GROUP}) * ${SORT_L};
  blk[lid] = order[base + lid];
  blk[lid + ${SORT_L / 2}] = order[base + lid + ${SORT_L / 2}];
  workgroupBarrier();
  if (u.kk == 0) {
    for (var kk = 2; kk <= ${SORT_L}; kk *= 2) {
      for (var jj = kk / 2; jj > 0; jj /= 2) { stage(kk, jj, lid, base); }
    }
  } else {
    for (var jj = u.jStart; jj > 0; jj /= 2) { stage(u.kk, jj, lid, base); }
  }
  order[base + lid] = blk[lid];
  order[base + lid + ${SORT_L / 2}] = blk[lid + ${SORT_L / 2}];
}`;

const STARTS_CODE = `
${bindings(
  [['start', 'i32']],
  [
    ['order', 'i32'],
    ['idx', 'i32'],
  ],
  [
    ['F', 'i32'],
    ['NK', 'i32'],
    ['off', 'i32'],
  ],
)}
${flatMain(`  if (gid > u.F) { return; }
  // First position p in [0, NK] whose entry's latent is ≥ gid (the sorted entries come first).
  var lo = 0; var hi = u.NK;
  while (lo < hi) {
    let mid = (lo + hi) / 2;
    if (idx[u.off + order[mid]] < gid) { lo = mid + 1; } else { hi = mid; }
  }
  start[gid] = lo;`)}`;

/** order [M ≥ NK] (entry numbers sorted by latent) and start [F + 1]; both owned by the caller. */
export function sortByLatent(
  backend: tf.KernelBackend,
  idx: Info,
  off: number,
  NK: number,
  F: number,
): { order: Info; start: Info } {
  let M = SORT_L;
  while (M < NK) M *= 2;
  const [order] = dispatch(backend, {
    label: 'sort-init',
    code: SORT_INIT_CODE,
    outputs: [{ shape: [M], dtype: 'int32' }],
    inputs: [],
    uniforms: [i32(M)],
    groups: threads(M),
  });
  const local = (kk: number, jStart: number) =>
    dispatch(backend, {
      label: 'sort-local',
      code: SORT_LOCAL_CODE,
      outputs: [order],
      inputs: [idx],
      uniforms: [i32(M), i32(NK), i32(kk), i32(jStart), i32(off)],
      groups: grid(M / SORT_L),
    });
  local(0, 0);
  for (let kk = 2 * SORT_L; kk <= M; kk *= 2) {
    for (let jj = kk / 2; jj >= SORT_L; jj /= 2)
      dispatch(backend, {
        label: 'sort-step',
        code: SORT_STEP_CODE,
        outputs: [order],
        inputs: [idx],
        uniforms: [i32(M), i32(NK), i32(kk), i32(jj), i32(off)],
        groups: threads(M),
      });
    local(kk, SORT_L / 2);
  }
  const [start] = dispatch(backend, {
    label: 'sort-starts',
    code: STARTS_CODE,
    outputs: [{ shape: [F + 1], dtype: 'int32' }],
    inputs: [order, idx],
    uniforms: [i32(F), i32(NK), i32(off)],
    groups: threads(F + 1),
  });
  return { order, start };
}
