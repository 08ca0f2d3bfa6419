/**
 * Planted circuits (issue 15): a one-layer toy GPT and two TopK SAEs built so that the map from the upstream
 * codes z₀ [N, F₀] to the downstream pre-activations pre₁ [N, F₁] is a chosen sparse matrix M [F₀, F₁]:
 *
 *   mlp   (fflayer pair 0, position-local):  pre₁[n, j]    = Σ_i z₀[n, i] M_ij                      + b_enc₁_j
 *   block (tblock pair 0, mixes positions):  pre₁[b, t, j] = Σ_i (1/(t+1)) Σ_{t'≤t} z₀[b, t', i] M_ij + b_enc₁_j
 *
 * so the true edges are {(i, j): M_ij ≠ 0}. Everything the SCALAR engine runs on them is the real LM and pair
 * code (Gpt, PairModel); only the weights are chosen. The residual layout (D = 2F₀ + 2F₁ + 2, rounded up to 4s):
 *   d_i = (e_{2i} − e_{2i+1})/√2               upstream decoder rows (orthonormal, zero mean)
 *   o_j = (e_{2F₀+2j} − e_{2F₀+2j+1})/√2       downstream encoder columns / decoder rows
 *   C·u, u = (e_a − e_b)/√2, C = 1000           a constant in b_dec₀ (and b_dec₁ for the block)
 * The constant dominates every LayerNorm's σ, so σ ≈ C/√D whatever the codes (relative change ≤ ‖z‖²/2C² ≈ 1e-5)
 * and a norm with γ = C/√D passes the latent part through unchanged; zero-mean directions make the centring
 * exact. The MLP's GELU runs at u + 10, where gelu_tanh(u) = u in float32, and b_pr removes the shift.
 * Attention: W_q = W_k = 0 gives the uniform causal average; W_v = Σ_i d_iᵀ(Σ_j M_ij o_j), W_o = I.
 * The tied head reads the downstream directions: wte[v] = (codes of token v)·W_dec₀ + C·u + Σ_j R_vj o_j, and
 * ln_f's γ is non-zero only on the o_j dims, so logits_v ≈ g Σ_j Z₁_j R_vj.
 */
import * as tf from '@tensorflow/tfjs';
import type { PlantedKnobs, PlantedSegment } from '../../../src-shared/validation.ts';
import { tidy } from '../backend.ts';
import { Gpt } from '../lm/gpt.ts';
import { Rng } from '../random.ts';
import type { SaePair } from '../sae/positions.ts';
import { densify } from '../sae/topk.ts';
import { PairModel } from '../scalar/pair.ts';

const C = 1000;
const GELU_SHIFT = 10;
/** Downstream encoder biases are drawn from [−0.4, 0.1): mostly thresholds, a few latents on at z = 0. */
const B_ENC1 = [-0.4, 0.1] as const;
/** A near-tie twin's column is its original's times (1 − TIE_GAP). */
export const TIE_GAP = 0.01;

export interface PlantedSpec {
  segment: PlantedSegment;
  knobs: PlantedKnobs;
  /** Causal upstream latents (distractors come on top) and downstream latents. */
  f0: number;
  f1: number;
  vocab: number;
  seqLen: number;
  attributionSeqs: number;
  evalSeqs: number;
  seed: number;
  /**
   * A circuit written out instead of drawn (small hand-checked cases): the codes of each vocabulary token
   * [V·F₀], M [F₀·F₁], b_enc₁ [F₁] and both token sets. F₀ = spec.f0 (no distractors are added).
   */
  given?: {
    codes: Float64Array;
    map: Float64Array;
    bEnc1: Float32Array;
    attributionTokens: Int32Array;
    evalTokens: Int32Array;
  };
}

export interface PlantedCircuit {
  spec: PlantedSpec;
  pm: PairModel;
  /** F₀ = causal + distractors, F₁. */
  f0: number;
  f1: number;
  /** The planted map M [F₀·F₁] (edge e = i·F₁ + j). */
  map: Float64Array;
  /** The downstream encoder bias b_enc₁ [F₁]. */
  bEnc1: Float32Array;
  /** Token ids [seqs · seqLen] of the attribution and evaluation sets. */
  attributionTokens: Int32Array;
  evalTokens: Int32Array;
  /** Upstream latents with no edge (zero rows of M). */
  distractors: number[];
  /** Downstream twins: twin j′ → its original j. */
  twins: Map<number, number>;
  dispose(): void;
}

/** The upstream code of each vocabulary token [V, F₀]: which latents fire, and how strongly. */
function plantCodes(rng: Rng, V: number, f0: number, causal: number, k: number): Float64Array {
  // Causal firing rates spread over a factor 8 (latents differ in frequency, as in trained SAEs), scaled so
  // about 1.25·k causal latents fire per token and the upstream TopK binds; distractors fire on top of them,
  // half the time and 1.5× as strongly, and so crowd causal latents out of the TopK.
  const w = Array.from({ length: causal }, () => Math.exp(rng.uniform() * Math.log(8)));
  const wSum = w.reduce((a, b) => a + b, 0);
  const p = w.map((x) => Math.min(0.95, (1.25 * k * x) / wSum));
  const codes = new Float64Array(V * f0);
  const magnitude = () => 0.5 - 0.5 * Math.log(1 - rng.uniform()); // 0.5 + Exp(mean 0.5)
  for (let v = 0; v < V; v++)
    for (let i = 0; i < f0; i++) {
      if (i < causal) {
        if (rng.uniform() < p[i]) codes[v * f0 + i] = magnitude();
      } else if (rng.uniform() < 0.5) codes[v * f0 + i] = 1.5 * magnitude();
    }
  return codes;
}

/** M [F₀·F₁]: each original downstream latent gets round(density·causal) parents, weights ±(0.5 + U[0,1)). */
function plantMap(rng: Rng, spec: PlantedSpec, f0: number, twinCount: number) {
  const { f1 } = spec;
  const causal = spec.f0;
  const M = new Float64Array(f0 * f1);
  const parents = Math.max(1, Math.round(spec.knobs.density * causal));
  const originals = f1 - twinCount;
  for (let j = 0; j < originals; j++) {
    const pool = Array.from({ length: causal }, (_, i) => i);
    rng.shuffle(pool);
    for (const i of pool.slice(0, parents))
      M[i * f1 + j] = (rng.uniform() < 0.25 ? -1 : 1) * (0.5 + rng.uniform());
  }
  const twins = new Map<number, number>();
  for (let t = 0; t < twinCount; t++) {
    const jTwin = originals + t;
    const j = t % originals;
    twins.set(jTwin, j);
    for (let i = 0; i < f0; i++) M[i * f1 + jTwin] = M[i * f1 + j] * (1 - TIE_GAP);
  }
  return { M, twins };
}

export function buildPlanted(spec: PlantedSpec): PlantedCircuit {
  const { knobs, f1, vocab: V, seqLen: T } = spec;
  if (knobs.k > spec.f0 || knobs.k > f1)
    throw new Error(`TopK k = ${knobs.k} needs at least k latents per SAE (F₀ = ${spec.f0}, F₁ = ${f1})`);
  const rng = Rng.derive(spec.seed, 'planted', spec.segment, JSON.stringify(knobs), spec.f0, f1, V);
  const given = spec.given;
  const f0 = given ? spec.f0 : spec.f0 + knobs.distractors;
  const D = Math.ceil((2 * f0 + 2 * f1 + 2) / 4) * 4; // the SIMD kernels walk rows in 4-lane vectors
  const uA = 2 * f0 + 2 * f1;
  const dMlp = Math.ceil(f0 / 4) * 4;
  const sigma0 = C / Math.sqrt(D); // every LayerNorm's σ (the constant C·u dominates it)
  const g = 1 / Math.sqrt(knobs.k); // logit gain: logits spread O(1) whatever k
  const { M, twins } = given
    ? { M: given.map, twins: new Map<number, number>() }
    : plantMap(rng, spec, f0, Math.round(knobs.nearTies * f1));
  const codes = given ? given.codes : plantCodes(rng, V, f0, spec.f0, knobs.k);
  const distractors = given ? [] : Array.from({ length: knobs.distractors }, (_, q) => spec.f0 + q);
  if (given && (M.length !== f0 * f1 || codes.length !== V * f0 || given.bEnc1.length !== f1))
    throw new Error(`a given circuit needs M [${f0}·${f1}], codes [${V}·${f0}] and b_enc₁ [${f1}]`);

  const r2 = Math.SQRT1_2;
  const zeros = (n: number) => new Float32Array(n);
  // W_dec₀ [F₀, D] rows d_i; O [F₁, D] rows o_j.
  const dec0 = zeros(f0 * D);
  const pairDir = (row: Float32Array, at: number, scale: number) => {
    row[at] = scale * r2;
    row[at + 1] = -scale * r2;
  };
  for (let i = 0; i < f0; i++) pairDir(dec0, i * D + 2 * i, 1);
  const out = zeros(f1 * D);
  for (let j = 0; j < f1; j++) pairDir(out, j * D + 2 * f0 + 2 * j, 1);
  const cu = zeros(D);
  pairDir(cu, uA, C);
  // mapRows[i] = Σ_j M_ij o_j [F₀, D]: where latent i's edges write.
  const mapRows = zeros(f0 * D);
  for (let i = 0; i < f0; i++)
    for (let j = 0; j < f1; j++) {
      const m = M[i * f1 + j];
      if (m !== 0) for (let d = 0; d < D; d++) mapRows[i * D + d] += m * out[j * D + d];
    }
  const transpose = (a: Float32Array, rows: number, cols: number) => {
    const t = zeros(a.length);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c];
    return t;
  };

  // Token embeddings: the token's code through W_dec₀, the constant, the head's readout R, and noise.
  const wte = zeros(V * D);
  for (let v = 0; v < V; v++) {
    for (let i = 0; i < f0; i++) {
      const z = codes[v * f0 + i];
      if (z) for (let d = 0; d < D; d++) wte[v * D + d] += z * dec0[i * D + d];
    }
    for (let d = 0; d < D; d++) wte[v * D + d] += cu[d];
    for (let j = 0; j < f1; j++) {
      const r = rng.normal();
      for (let d = 0; d < D; d++) wte[v * D + d] += r * out[j * D + d];
    }
    for (let d = 0; d < 2 * f0; d++) wte[v * D + d] += knobs.noise * rng.normal();
  }

  const p: Record<string, tf.Tensor> = {};
  const put = (name: string, data: Float32Array, shape: number[]) => (p[name] = tf.tensor(data, shape));
  const fill = (n: number, v: number) => new Float32Array(n).fill(v);
  put('wte.weight', wte, [V, D]);
  put('wpe.weight', zeros(T * D), [T, D]);
  const block = spec.segment === 'block';
  put('h.0.ln_1.weight', fill(D, block ? sigma0 : 1), [D]);
  put('h.0.ln_1.bias', zeros(D), [D]);
  // c_attn = [W_q | W_k | W_v]: q = k = 0 → uniform causal attention; W_v = W_dec₀ᵀ·mapRows (block only).
  const attn = zeros(D * 3 * D);
  if (block)
    for (let i = 0; i < f0; i++)
      for (let a = 0; a < D; a++) {
        const da = dec0[i * D + a];
        if (da) for (let b = 0; b < D; b++) attn[a * 3 * D + 2 * D + b] += da * mapRows[i * D + b];
      }
  put('h.0.attn.c_attn.weight', attn, [D, 3 * D]);
  put('h.0.attn.c_attn.bias', zeros(3 * D), [3 * D]);
  const eye = zeros(D * D);
  if (block) for (let d = 0; d < D; d++) eye[d * D + d] = 1;
  put('h.0.attn.c_proj.weight', eye, [D, D]); // mlp pair: attention adds exact zeros, h_mid = wte[token]
  put('h.0.attn.c_proj.bias', zeros(D), [D]);
  put('h.0.ln_2.weight', fill(D, block ? 1 : sigma0), [D]);
  put('h.0.ln_2.bias', zeros(D), [D]);
  // MLP (mlp pair only): hidden i = gelu(z_i + 10) = z_i + 10, output Σ_i (z_i + 10) mapRows[i] − 10 Σ_i mapRows[i].
  const wFc = zeros(D * dMlp);
  const wPr = zeros(dMlp * D);
  const bPr = zeros(D);
  if (!block)
    for (let i = 0; i < f0; i++) {
      for (let d = 0; d < D; d++) wFc[d * dMlp + i] = dec0[i * D + d];
      for (let d = 0; d < D; d++) {
        wPr[i * D + d] = mapRows[i * D + d];
        bPr[d] -= GELU_SHIFT * mapRows[i * D + d];
      }
    }
  put('h.0.mlp.c_fc.weight', wFc, [D, dMlp]);
  put('h.0.mlp.c_fc.bias', fill(dMlp, block ? 0 : GELU_SHIFT), [dMlp]);
  put('h.0.mlp.c_proj.weight', wPr, [dMlp, D]);
  put('h.0.mlp.c_proj.bias', bPr, [D]);
  const lnF = zeros(D);
  for (let d = 2 * f0; d < 2 * f0 + 2 * f1; d++) lnF[d] = sigma0 * g;
  put('ln_f.weight', lnF, [D]);
  put('ln_f.bias', zeros(D), [D]);
  const lm = Gpt.fromTensors(
    {
      vocabSize: V,
      contextLength: T,
      dModel: D,
      nLayer: 1,
      nHead: 1,
      dMlp,
      norm2: 'layernorm',
      lnEps: 1e-5,
      dytAlphaInit: 10,
    },
    p,
  );

  const bEnc1 =
    given?.bEnc1 ??
    Float32Array.from({ length: f1 }, () => B_ENC1[0] + (B_ENC1[1] - B_ENC1[0]) * rng.uniform());
  for (const [twin, j] of twins) bEnc1[twin] = bEnc1[j]; // a twin ties its original up to TIE_GAP
  const sae = (
    wEnc: Float32Array,
    wDec: Float32Array,
    width: number,
    bEnc: Float32Array,
    bDec: Float32Array,
  ) => ({
    w: {
      wEnc: tf.tensor2d(wEnc, [D, width]),
      bEnc: tf.tensor1d(bEnc),
      wDec: tf.tensor2d(wDec, [width, D]),
      bDec: tf.tensor1d(bDec),
    },
    k: knobs.k,
  });
  const up = sae(transpose(dec0, f0, D), dec0, f0, zeros(f0), cu);
  const down = sae(transpose(out, f1, D), out, f1, bEnc1, block ? cu : zeros(D));
  const pair: SaePair = block
    ? {
        index: 0,
        layer: 0,
        up: 'blocks.0.hook_resid_pre',
        down: 'blocks.0.hook_resid_post',
        segment: 'block',
      }
    : {
        index: 0,
        layer: 0,
        up: 'blocks.0.ln2.hook_normalized',
        down: 'blocks.0.hook_mlp_out',
        segment: 'mlp',
      };
  const pm = new PairModel(lm, pair, up, down);
  const tokens = (n: number) => Int32Array.from({ length: n * T }, () => rng.int(V));
  return {
    spec,
    pm,
    f0,
    f1,
    map: M,
    bEnc1,
    attributionTokens: given?.attributionTokens ?? tokens(spec.attributionSeqs),
    evalTokens: given?.evalTokens ?? tokens(spec.evalSeqs),
    distractors,
    twins,
    dispose() {
      pm.dispose();
      lm.dispose();
      tf.dispose([...Object.values(up.w), ...Object.values(down.w)]);
    },
  };
}

/**
 * The upstream codes the pair's own SAE gives the evaluation set, dense [B·T·F₀] (the engine's encode of the
 * LM's clean activations: TopK may drop planted latents and noise may add some).
 */
export async function evalCodes(c: PlantedCircuit): Promise<Float32Array> {
  const T = c.spec.seqLen;
  const B = c.evalTokens.length / T;
  const z = tidy(() => {
    const clean = c.pm.clean(tf.tensor2d(c.evalTokens, [B, T], 'int32'));
    return densify(c.pm.upCodes(clean), c.f0);
  });
  const data = (await z.data()) as Float32Array;
  z.dispose();
  return data;
}

/**
 * True strength of each edge [F₀·F₁]: the RMS over evaluation tokens of its exact contribution to pre₁_j,
 * |M_ij| · rms_n a_i(n), with a_i = z₀[·, i] (mlp) or its causal running mean within each sequence (block).
 */
export function trueStrengths(
  map: Float64Array,
  codes: Float32Array,
  f0: number,
  f1: number,
  seqLen: number,
  segment: PlantedSegment,
): Float64Array {
  const N = codes.length / f0;
  const rms = new Float64Array(f0);
  for (let i = 0; i < f0; i++) {
    let sq = 0;
    let running = 0;
    for (let n = 0; n < N; n++) {
      const t = n % seqLen;
      if (t === 0) running = 0;
      running += codes[n * f0 + i];
      const a = segment === 'block' ? running / (t + 1) : codes[n * f0 + i];
      sq += a * a;
    }
    rms[i] = Math.sqrt(sq / N);
  }
  const s = new Float64Array(f0 * f1);
  for (let i = 0; i < f0; i++)
    for (let j = 0; j < f1; j++) s[i * f1 + j] = Math.abs(map[i * f1 + j]) * rms[i];
  return s;
}
