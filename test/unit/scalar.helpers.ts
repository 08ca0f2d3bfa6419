/**
 * Test helpers for the SCALAR engine (SPEC §4):
 *
 * - `identityPair`: a hand-built pair whose segment is exactly x ↦ x (one layer, both output projections and
 *   their biases zero, so block 0 and the ffblock segment add exact zeros) with permutation-matrix SAEs
 *   (F = D, W_dec = P, W_enc = Pᵀ, b_dec = 0). Downstream latent σ(i) then reads upstream latent i and nothing
 *   else, and `HandPair` works the whole SCALAR computation out in float64 plain JS from that structure
 *   (no gradients, no tfjs): codes, which latents are active at each integration point, edge scores, kept
 *   sets, R, Z₁ = TopK(R), x̂₁, the LM's final LayerNorm and tied head, softmax and KL.
 * - `randomPair`: a small random pair of any setup (the idea of .tmp/igcheck.ts) for fast-vs-plain tests.
 *
 * Nothing here calls the SCALAR code under test.
 */
import * as tf from '@tensorflow/tfjs';
import { GptConfigSchema } from '../../src-shared/lm.ts';
import type { SaeSetup } from '../../src-shared/sae.ts';
import { Gpt } from '../../src-main/engine/lm/gpt.ts';
import { setupPositions, type SaePair } from '../../src-main/engine/sae/positions.ts';
import { SaeSet } from '../../src-main/engine/sae/saeSet.ts';
import type { SaeWeights } from '../../src-main/engine/sae/topk.ts';
import { PairModel } from '../../src-main/engine/scalar/pair.ts';
import { attention64, gelu64, layerNorm64, linear64, TestRng } from './lm.helpers.ts';
import { stableTopk } from './sae.helpers.ts';

// ---------------------------------------------------------------------------------------------------------
// Plain-JS maths
// ---------------------------------------------------------------------------------------------------------

/** Softmax of each row of V logits (float64). */
export function softmax64(logits: ArrayLike<number>, V: number): Float64Array {
  const out = new Float64Array(logits.length);
  for (let r = 0; r < logits.length / V; r++) {
    let mx = -Infinity;
    for (let v = 0; v < V; v++) mx = Math.max(mx, logits[r * V + v]);
    let z = 0;
    for (let v = 0; v < V; v++) z += Math.exp(logits[r * V + v] - mx);
    for (let v = 0; v < V; v++) out[r * V + v] = Math.exp(logits[r * V + v] - mx) / z;
  }
  return out;
}

/** SPEC §4.4 per token: KL(P‖Q) = Σ_v P log((P + 1e-8)/(Q + 1e-8)), P and Q softmaxes of the logit rows. */
export function kl64(pLogits: ArrayLike<number>, qLogits: ArrayLike<number>, V: number): Float64Array {
  const p = softmax64(pLogits, V);
  const q = softmax64(qLogits, V);
  const out = new Float64Array(p.length / V);
  for (let r = 0; r < out.length; r++) {
    let s = 0;
    for (let v = 0; v < V; v++) s += p[r * V + v] * Math.log((p[r * V + v] + 1e-8) / (q[r * V + v] + 1e-8));
    out[r] = s;
  }
  return out;
}

/** The inverse of a permutation given as an array (perm[i] = image of i). */
export const invert = (perm: number[]) => {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
};

/** Kept sets U(j) of the top-n edges, written independently of ranking.ts (edge e = i·F₁ + j). */
export function keptSets64(ranking: ArrayLike<number>, n: number, f1: number): Set<number>[] {
  const sets = Array.from({ length: f1 }, () => new Set<number>());
  for (let r = 0; r < n; r++) sets[ranking[r] % f1].add(Math.floor(ranking[r] / f1));
  return sets;
}

// ---------------------------------------------------------------------------------------------------------
// The hand-built identity pair
// ---------------------------------------------------------------------------------------------------------

export const ID = { D: 8, V: 8, T: 4, B: 2 } as const;

export interface IdentitySpec {
  setup: 'tblock' | 'ffblock';
  /** W_dec₀[i, π₀(i)] = 1, W_dec₁[j, π₁(j)] = 1. */
  pi0: number[];
  pi1: number[];
  /** Encoder biases (multiples of 1/64, so float32 sums with the activations are exact). */
  b0: number[];
  b1: number[];
  k0: number;
  k1: number;
  seed: number;
}

/** Permutation SAE weights: W_dec = P (row i = e_{π(i)}), W_enc = Pᵀ, b_dec = 0. */
export function permutationSae(perm: number[], bEnc: number[]): SaeWeights {
  const F = perm.length;
  const wDec = new Float32Array(F * F);
  const wEnc = new Float32Array(F * F);
  perm.forEach((p, i) => {
    wDec[i * F + p] = 1;
    wEnc[p * F + i] = 1;
  });
  return {
    wEnc: tf.tensor2d(wEnc, [F, F]),
    bEnc: tf.tensor1d(bEnc),
    wDec: tf.tensor2d(wDec, [F, F]),
    bDec: tf.zeros([F]) as tf.Tensor1D,
  };
}

/**
 * A one-layer LM whose block is exactly the identity (attention and MLP output projections and their biases
 * zero). Token embeddings are distinct multiples of 1/8 within each row (so activations within a token never
 * tie), position embeddings multiples of 1/64 in [−1/32, 1/32): all sums are exact in float32.
 */
export function identityLm(seed: number, norm2: 'layernorm' | 'dyt' = 'layernorm'): Gpt {
  const { D, V, T } = ID;
  const lm = Gpt.init(
    GptConfigSchema.parse({
      vocabSize: V,
      contextLength: T,
      dModel: D,
      nLayer: 1,
      nHead: 2,
      dMlp: 16,
      norm2,
      dytAlphaInit: 0.9,
    }),
    seed,
  );
  const rng = new TestRng(seed + 17);
  const wte = new Float32Array(V * D);
  for (let v = 0; v < V; v++) {
    // A random choice of D distinct values from {−4, …, 11}/8.
    const pool = Array.from({ length: 16 }, (_, q) => (q - 4) / 8);
    for (let d = 0; d < D; d++) wte[v * D + d] = pool.splice(Math.floor(rng.uniform() * pool.length), 1)[0];
  }
  const wpe = Float32Array.from(rng.ints(T * D, 4), (q) => (q - 2) / 64);
  const set = (name: string, data: Float32Array | null) => {
    const v = lm.params[name];
    v.assign(data ? tf.tensor(data, v.shape) : tf.zerosLike(v));
  };
  set('wte.weight', wte);
  set('wpe.weight', wpe);
  for (const name of ['attn.c_proj.weight', 'attn.c_proj.bias', 'mlp.c_proj.weight', 'mlp.c_proj.bias'])
    set(`h.0.${name}`, null);
  // Everything else stays non-trivial (random attention and MLP inputs), multiplied by the zero projections.
  for (const name of ['h.0.attn.c_attn.weight', 'h.0.mlp.c_fc.weight', 'h.0.mlp.c_fc.bias'])
    set(name, rng.normals(lm.params[name].size, 0.5));
  return lm;
}

export interface IdentityPair {
  lm: Gpt;
  pm: PairModel;
  pair: SaePair;
  tokens: Int32Array;
  hand: HandPair;
}

/** Every vocabulary entry once: sequence 0 = tokens 0..3, sequence 1 = tokens 4..7 (in a shuffled order). */
export const ID_TOKENS = Int32Array.from([2, 0, 3, 1, 6, 4, 7, 5]);

export function identityPair(spec: IdentitySpec, norm2: 'layernorm' | 'dyt' = 'layernorm'): IdentityPair {
  const lm = identityLm(spec.seed, norm2);
  const pair = setupPositions(spec.setup, 1).pairs[0];
  const pm = new PairModel(
    lm,
    pair,
    { w: permutationSae(spec.pi0, spec.b0), k: spec.k0 },
    { w: permutationSae(spec.pi1, spec.b1), k: spec.k1 },
  );
  const hand = new HandPair(
    spec,
    lm.params['wte.weight'].dataSync() as Float32Array,
    lm.params['wpe.weight'].dataSync() as Float32Array,
    ID_TOKENS,
  );
  return { lm, pm, pair, tokens: ID_TOKENS, hand };
}

/**
 * The identity pair worked out by hand in float64. With segment = identity, b_dec = 0 and permutation
 * dictionaries:
 *   x         = wte[token] + wpe[position]                              (upstream hook: block input = resid_mid)
 *   z₀        = TopK_k₀(relu(x_{π₀(i)} + b₀ᵢ))                           (SAE₀ codes)
 *   f_j(z)    = z_{σ⁻¹(j)} + b₁ⱼ,   σ⁻¹(j) = π₀⁻¹(π₁(j))                  (pre₁: x̂₀ = z P₀, pre₁ = x̂₀ P₁ᵀ + b₁)
 * so ∂f_j/∂z_i = [i = σ⁻¹(j)] and SPEC §4.2 gives
 *   G_j[n, i] = c_n,i · #{s : j active (ReLU + TopK_k₁) at α_s z₀,n} · [i = σ⁻¹(j)]
 * and SPEC §4.3 gives R[n, j] = (σ⁻¹(j) ∈ U(j) ? z₀[n, σ⁻¹(j)] : 0) + b₁ⱼ when U(j) ≠ ∅, else 0;
 * x̂₁[π₁(j)] = Z₁ⱼ; logits = LN_f(x̂₁) wteᵀ (γ = 1, β = 0, eps 1e-5: Gpt.init's final norm).
 */
export class HandPair {
  readonly N: number;
  readonly F: number;
  /** Upstream activations [N, D]. */
  readonly x: Float64Array;
  /** Dense SAE₀ codes [N, F]. */
  readonly z0: Float64Array;
  readonly sigma: number[];
  readonly sigmaInv: number[];
  /** Smallest |decision quantity| met (see `margin`); the float32 engine agrees only well above rounding. */
  private minMargin = Infinity;

  constructor(
    readonly spec: IdentitySpec,
    readonly wte: Float32Array,
    readonly wpe: Float32Array,
    readonly tokens: Int32Array,
  ) {
    const { D, T } = ID;
    const F = (this.F = spec.pi0.length);
    const N = (this.N = tokens.length);
    this.x = new Float64Array(N * D);
    for (let n = 0; n < N; n++)
      for (let d = 0; d < D; d++) this.x[n * D + d] = wte[tokens[n] * D + d] + wpe[(n % T) * D + d];
    this.z0 = new Float64Array(N * F);
    for (let n = 0; n < N; n++) {
      const raw = Array.from({ length: F }, (_, i) => Math.max(0, this.x[n * D + spec.pi0[i]] + spec.b0[i]));
      const { idx, val } = stableTopk(raw, spec.k0);
      idx.forEach((i, q) => (this.z0[n * F + i] = val[q]));
    }
    const inv0 = invert(spec.pi0);
    const inv1 = invert(spec.pi1);
    this.sigmaInv = spec.pi1.map((p) => inv0[p]);
    this.sigma = spec.pi0.map((p) => inv1[p]);
  }

  /** α_s = s/(S−1); the single point of S = 1 is `single`: 1 (z₀ itself, the default) or 0 (the baseline). */
  static alphas(S: number, single: 0 | 1 = 1): number[] {
    return Array.from({ length: S }, (_, s) => (S === 1 ? single : s / (S - 1)));
  }

  /**
   * Records how close a ReLU/TopK decision is to flipping: each non-zero pre-activation's distance from 0 and
   * the gap between the k-th and (k+1)-th ReLU'd values when the (k+1)-th is positive.
   */
  private noteMargins(pre: number[], k: number): void {
    for (const v of pre) if (v !== 0) this.minMargin = Math.min(this.minMargin, Math.abs(v));
    const sorted = pre.map((v) => Math.max(0, v)).sort((a, b) => b - a);
    if (k < sorted.length && sorted[k] > 0)
      this.minMargin = Math.min(this.minMargin, sorted[k - 1] - sorted[k]);
  }

  margin(): number {
    return this.minMargin;
  }

  /** Downstream latents active (ReLU, then TopK_k₁, value > 0) at α z₀ for token n. */
  activeAt(n: number, alpha: number): Set<number> {
    const { F, spec } = this;
    const pre = Array.from({ length: F }, (_, j) => alpha * this.z0[n * F + this.sigmaInv[j]] + spec.b1[j]);
    this.noteMargins(pre, spec.k1);
    const { idx, val } = stableTopk(
      pre.map((v) => Math.max(0, v)),
      spec.k1,
    );
    return new Set(idx.filter((_, q) => val[q] > 0));
  }

  /** Edge scores A [F₀·F₁] (edge e = i·F₁ + j) by SPEC §4.2 for this structure. */
  attribution(S: number, scaling: 'reference' | 'textbook', single: 0 | 1 = 1): Float64Array {
    const { F, N } = this;
    const sumSq = new Float64Array(F * F);
    for (let n = 0; n < N; n++) {
      const count = new Array<number>(F).fill(0);
      for (const alpha of HandPair.alphas(S, single)) for (const j of this.activeAt(n, alpha)) count[j]++;
      let norm = 0;
      for (let i = 0; i < F; i++) norm += this.z0[n * F + i] ** 2;
      for (let j = 0; j < F; j++) {
        const i = this.sigmaInv[j];
        const c = scaling === 'reference' ? Math.sqrt(norm) / S : this.z0[n * F + i] / S;
        sumSq[i * F + j] += (c * count[j]) ** 2;
      }
    }
    return sumSq.map(Math.sqrt);
  }

  /** R [N, F₁] of the subcircuit keeping the top-n edges (SPEC §4.3). */
  subcircuitR(ranking: ArrayLike<number>, n: number): Float64Array {
    const { F, N, spec } = this;
    const sets = keptSets64(ranking, n, F);
    const R = new Float64Array(N * F);
    for (let t = 0; t < N; t++)
      for (let j = 0; j < F; j++) {
        if (sets[j].size === 0) continue;
        const i = this.sigmaInv[j];
        R[t * F + j] = (sets[j].has(i) ? this.z0[t * F + i] : 0) + spec.b1[j];
      }
    return R;
  }

  /** pre₁ of the full circuit (every edge kept). */
  fullPre(): Float64Array {
    const { F, N, spec } = this;
    const pre = new Float64Array(N * F);
    for (let t = 0; t < N; t++)
      for (let j = 0; j < F; j++) pre[t * F + j] = this.z0[t * F + this.sigmaInv[j]] + spec.b1[j];
    return pre;
  }

  /** x̂₁ [N, D] from R: Z₁ = TopK_k₁(R) (through a ReLU when `relu`), x̂₁[π₁(j)] = Z₁ⱼ (b_dec₁ = 0). */
  decodeDown(R: Float64Array, relu: boolean): Float64Array {
    const { F, N, spec } = this;
    const xhat = new Float64Array(N * ID.D);
    for (let t = 0; t < N; t++) {
      const row = Array.from(R.subarray(t * F, (t + 1) * F), (v) => (relu ? Math.max(0, v) : v));
      const { idx, val } = stableTopk(row, spec.k1);
      idx.forEach((j, q) => (xhat[t * ID.D + spec.pi1[j]] = val[q]));
    }
    return xhat;
  }

  /** Logits [N, V] of the rest of the model (final LayerNorm, tied head) at residual h [N, D]. */
  logitsAt(h: Float64Array): Float64Array {
    const { D, V } = ID;
    const nf = layerNorm64(h, D, new Float64Array(D).fill(1), new Float64Array(D));
    const out = new Float64Array(this.N * V);
    for (let t = 0; t < this.N; t++)
      for (let v = 0; v < V; v++) {
        let s = 0;
        for (let d = 0; d < D; d++) s += nf[t * D + d] * this.wte[v * D + d];
        out[t * V + v] = s;
      }
    return out;
  }

  /** The clean LM's logits: the block is the identity, so the final residual is x. */
  cleanLogits(): Float64Array {
    return this.logitsAt(this.x);
  }

  subcircuitLogits(ranking: ArrayLike<number>, n: number, relu: boolean): Float64Array {
    return this.logitsAt(this.decodeDown(this.subcircuitR(ranking, n), relu));
  }

  /** Full circuit: SAE₁'s own encode (ReLU + TopK) of the segment output. */
  fullCircuitLogits(): Float64Array {
    return this.logitsAt(this.decodeDown(this.fullPre(), true));
  }
}

// ---------------------------------------------------------------------------------------------------------
// Random small pairs
// ---------------------------------------------------------------------------------------------------------

export interface RandomPairSpec {
  setup: SaeSetup;
  arch?: 'topk' | 'staircase';
  norm2?: 'layernorm' | 'dyt';
  /** SAE width (TopK) or staircase chunk n. */
  width?: number;
  k?: number;
  pair?: number;
  nLayer?: number;
  seed?: number;
  /** Added to the downstream SAE's b_enc: negative values leave tokens with fewer than k positive
   * pre-activations, where the subcircuit's optional ReLU matters. */
  downBias?: number;
}

/**
 * A two-layer random LM (D 16, 2 heads, MLP 32, parameters perturbed well away from their init so every part
 * of the segment matters) and a random SAE set with random encoder biases; returns the PairModel of one pair.
 */
export function randomPair(spec: RandomPairSpec): { lm: Gpt; set: SaeSet; pm: PairModel } {
  const D = 16;
  const nLayer = spec.nLayer ?? 2;
  const seed = spec.seed ?? 5;
  const lm = Gpt.init(
    GptConfigSchema.parse({
      vocabSize: 11,
      contextLength: 6,
      dModel: D,
      nLayer,
      nHead: 2,
      dMlp: 32,
      norm2: spec.norm2 ?? 'layernorm',
      dytAlphaInit: 0.8,
    }),
    seed,
  );
  const rng = new TestRng(seed * 7 + 1);
  for (const v of Object.values(lm.params))
    if (v.rank >= 1) v.assign(tf.add(v, tf.tensor(rng.normals(v.size, 0.2), v.shape)));
  const k = spec.k ?? 3;
  const set = new SaeSet({
    arch: spec.arch ?? 'topk',
    setup: spec.setup,
    width: spec.width ?? 12,
    k,
    dModel: D,
    nLayer,
    seed: seed + 3,
  });
  for (const v of set.views) v.bEnc.assign(tf.tensor(rng.normals(v.width, 0.3)));
  const pair = set.pairs[spec.pair ?? Math.min(1, set.pairs.length - 1)];
  const up = set.view(pair.up);
  const down = set.view(pair.down);
  if (spec.downBias) down.bEnc.assign(tf.add(down.bEnc, spec.downBias));
  const pm = new PairModel(lm, pair, { w: set.weights(up), k }, { w: set.weights(down), k });
  return { lm, set, pm };
}

/** Random tokens [B, T] for a random pair (vocabulary 11). */
export function randomTokens(seed: number, B: number, T: number): tf.Tensor2D {
  return tf.tensor2d(new TestRng(seed).ints(B * T, 11), [B, T], 'int32');
}

// ---------------------------------------------------------------------------------------------------------
// float64 pair: the segment from the LM's parameters (SPEC §1.1 block maths, lm.helpers' reference ops)
// ---------------------------------------------------------------------------------------------------------

/**
 * f(z) = pre₁(segment(decode₀(z))) in float64 for dense codes z [B·T, F₀]: x̂ = z W_dec₀ + b_dec₀;
 * segment = MLP (fflayer), x + MLP(N2(x)) (ffblock) or the whole block (tblock, causal attention within each
 * sequence); pre₁ = (y − b_dec₁) W_enc₁ + b_enc₁ (no ReLU, no TopK). Returns [B·T, F₁].
 */
export function pairF64(pm: PairModel, B: number, T: number): (z: Float64Array) => Float64Array {
  const { config } = pm.lm;
  const D = config.dModel;
  const p = (n: string) => Float64Array.from(pm.lm.params[`h.${pm.pair.layer}.${n}`].dataSync());
  const w = (t: tf.Tensor) => Float64Array.from(t.dataSync());
  const up = { wDec: w(pm.up.w.wDec), bDec: w(pm.up.w.bDec) };
  const down = { wEnc: w(pm.down.w.wEnc), bEnc: w(pm.down.w.bEnc), bDec: w(pm.down.w.bDec) };
  const P = Object.fromEntries(
    [
      'ln_1.weight',
      'ln_1.bias',
      'attn.c_attn.weight',
      'attn.c_attn.bias',
      'attn.c_proj.weight',
      'attn.c_proj.bias',
      'ln_2.weight',
      'ln_2.bias',
      ...(config.norm2 === 'dyt' ? ['ln_2.alpha'] : []),
      'mlp.c_fc.weight',
      'mlp.c_fc.bias',
      'mlp.c_proj.weight',
      'mlp.c_proj.bias',
    ].map((n) => [n, p(n)]),
  );
  const M = config.dMlp;
  const mlp = (m: Float64Array) =>
    linear64(
      linear64(m, D, P['mlp.c_fc.weight'], M, P['mlp.c_fc.bias']).map(gelu64),
      M,
      P['mlp.c_proj.weight'],
      D,
      P['mlp.c_proj.bias'],
    );
  const norm2 = (h: Float64Array) =>
    config.norm2 === 'dyt'
      ? h.map((v, q) => P['ln_2.weight'][q % D] * Math.tanh(P['ln_2.alpha'][0] * v) + P['ln_2.bias'][q % D])
      : layerNorm64(h, D, P['ln_2.weight'], P['ln_2.bias'], config.lnEps);
  const mlpHalf = (h: Float64Array) => {
    const out = mlp(norm2(h));
    return out.map((v, q) => v + h[q]);
  };
  const segment = (x: Float64Array): Float64Array => {
    if (pm.pair.segment === 'mlp') return mlp(x);
    if (pm.pair.segment === 'ffblock') return mlpHalf(x);
    const n1 = layerNorm64(x, D, P['ln_1.weight'], P['ln_1.bias'], config.lnEps);
    const qkv = linear64(n1, D, P['attn.c_attn.weight'], 3 * D, P['attn.c_attn.bias']);
    const attn = linear64(
      attention64(qkv, B, T, D, config.nHead),
      D,
      P['attn.c_proj.weight'],
      D,
      P['attn.c_proj.bias'],
    );
    return mlpHalf(attn.map((v, q) => v + x[q]));
  };
  const { f0, f1 } = pm;
  return (z) => {
    const x = linear64(z, f0, up.wDec, D, up.bDec);
    const y = segment(x);
    return linear64(
      y.map((v, q) => v - down.bDec[q % D]),
      D,
      down.wEnc,
      f1,
      down.bEnc,
    );
  };
}
