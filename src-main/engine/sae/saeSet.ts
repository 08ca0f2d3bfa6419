/**
 * The SAEs of one training run. Parameters live in *dictionaries* (W_enc [D, N], W_dec [N, D]) and per-hook
 * biases; each hook sees a *view*: a prefix of a dictionary (sliced at every forward, never cached) plus its
 * biases. That one structure expresses every architecture of SPEC §3:
 *
 *   topk / jsae          one dictionary per hook, width F
 *   relu / jumprelu      imported only: one dictionary per hook, width F, plus a per-latent threshold θ [F]
 *                        (zeros for relu); z = pre·1[pre > θ], so the active count varies per token
 *   staircase            one shared dictionary per staircase; position p uses the first n·(p+1) latents
 *   staircase-detach     as staircase, but position p updates only its own new chunk
 *   staircase-untied     one dictionary per position with the staircase widths
 *   staircase-tied-all   every position uses the whole shared dictionary (own biases)
 *   staircase-shared-bias  as staircase with one b_dec for all positions (expected to be worse)
 *
 * A tblock staircase spans all its positions (five on a 4-layer model); an ffblock staircase spans one layer's pair
 * (mid n, post 2n).
 */
import * as tf from '@tensorflow/tfjs';
import { archSetupProblem, type SaeArch, type SaeSetup } from '../../../src-shared/sae.ts';
import { Rng } from '../random.ts';
import { setupPositions, type SaePair } from './positions.ts';
import { initDictionary, type SaeWeights } from './topk.ts';

export interface Dictionary {
  name: string;
  wEnc: tf.Variable; // [D, N]
  wDec: tf.Variable; // [N, D]
}

export interface SaeView {
  hook: string;
  dict: Dictionary;
  width: number;
  bEnc: tf.Variable;
  bDec: tf.Variable;
  k: number;
  /** Dictionary rows/columns below this index receive no gradient from this view (detach). */
  detachBelow: number;
  /** Staircase chunk size (for l0_per_chunk), or null. */
  chunk: number | null;
  /** Position within its staircase (0-based), or 0. */
  position: number;
  /** ReLU / JumpReLU SAEs: the activation threshold θ [F] (see topk.ts thresholdCodes); null for TopK. */
  threshold: tf.Variable | null;
}

export interface SaeSetSpec {
  arch: SaeArch;
  setup: SaeSetup;
  width: number;
  k: number;
  dModel: number;
  nLayer: number;
  seed: number;
  /** The blocks whose pairs are trained (positions.ts); omitted: every block. */
  layers?: readonly number[];
}

let counter = 0;
// tf.variable shares its initial tensor's data and leaves that tensor alive: let tidy dispose it (the variable
// survives, tidy never disposes variables).
const variable = (values: Float32Array, shape: number[], name: string) =>
  tf.tidy(() => tf.variable(tf.tensor(values, shape), true, `sae/${name}#${++counter}`));

export class SaeSet {
  readonly dictionaries: Dictionary[] = [];
  readonly views: SaeView[] = [];
  readonly pairs: SaePair[];
  /** Groups of views whose parameters are saved together (a staircase, a JSAE pair or a single SAE). */
  readonly groups: { name: string; hooks: string[] }[] = [];
  private readonly biasVars = new Map<string, tf.Variable>();

  constructor(readonly spec: SaeSetSpec) {
    const { arch, setup, width: n, k, dModel: D, nLayer } = spec;
    const problem = archSetupProblem(arch, setup);
    if (problem) throw new Error(problem);
    const { hooks, pairs } = setupPositions(setup, nLayer, spec.layers);
    this.pairs = pairs;
    const rng = Rng.derive(spec.seed, 'sae-init');
    const newDict = (name: string, size: number): Dictionary => {
      const { wEnc, wDec } = initDictionary(size, D, rng);
      const d = {
        name,
        wEnc: variable(wEnc, [D, size], `${name}.W_enc`),
        wDec: variable(wDec, [size, D], `${name}.W_dec`),
      };
      this.dictionaries.push(d);
      return d;
    };
    const bias = (key: string, size: number) => {
      if (!this.biasVars.has(key)) this.biasVars.set(key, variable(new Float32Array(size), [size], key));
      return this.biasVars.get(key)!;
    };
    const addView = (
      hook: string,
      dict: Dictionary,
      w: number,
      opts: {
        detachBelow?: number;
        chunk?: number | null;
        position?: number;
        sharedBDec?: string;
        threshold?: boolean;
      } = {},
    ) => {
      this.views.push({
        hook,
        dict,
        width: w,
        bEnc: bias(`${hook}.b_enc`, w),
        bDec: bias(opts.sharedBDec ?? `${hook}.b_dec`, D),
        // A ReLU / JumpReLU SAE's codes carry all w slots (topk.ts thresholdCodes), whatever spec.k says.
        k: opts.threshold ? w : k,
        detachBelow: opts.detachBelow ?? 0,
        chunk: opts.chunk ?? null,
        position: opts.position ?? 0,
        threshold: opts.threshold ? bias(`${hook}.threshold`, w) : null,
      });
    };

    if (arch === 'relu' || arch === 'jumprelu') {
      // k is unused by their encoder (the activation decides); the set's width is d_sae.
      for (const hook of hooks) addView(hook, newDict(hook, n), n, { threshold: true });
      for (const hook of hooks) this.groups.push({ name: hook, hooks: [hook] });
      return;
    }
    if (arch === 'topk' || arch === 'jsae') {
      if (arch === 'jsae' && setup === 'tblock')
        throw new Error('JSAE needs a tractable Jacobian between its pair: use setup fflayer or ffblock');
      for (const hook of hooks) addView(hook, newDict(hook, n), n);
      if (arch === 'jsae')
        for (const p of pairs) this.groups.push({ name: `pair${p.index}`, hooks: [p.up, p.down] });
      else for (const hook of hooks) this.groups.push({ name: hook, hooks: [hook] });
      return;
    }
    if (setup === 'fflayer')
      throw new Error(
        'a staircase shares one dictionary across residual-stream positions: use setup tblock or ffblock',
      );
    // Staircases: tblock = one over all hooks; ffblock = one per layer over (mid, post).
    const staircases =
      setup === 'tblock'
        ? [{ name: 'staircase', hooks }]
        : pairs.map((p) => ({ name: `staircase${p.layer}`, hooks: [p.up, p.down] }));
    for (const s of staircases) {
      const P = s.hooks.length;
      const shared = arch === 'staircase-untied' ? null : newDict(s.name, n * P);
      s.hooks.forEach((hook, p) => {
        const w = arch === 'staircase-tied-all' ? n * P : n * (p + 1);
        const dict = shared ?? newDict(`${s.name}.${hook}`, w);
        addView(hook, dict, w, {
          detachBelow: arch === 'staircase-detach' ? n * p : 0,
          chunk: n,
          position: p,
          sharedBDec: arch === 'staircase-shared-bias' ? `${s.name}.shared.b_dec` : undefined,
        });
      });
      this.groups.push({ name: s.name, hooks: s.hooks });
    }
  }

  view(hook: string): SaeView {
    const v = this.views.find((x) => x.hook === hook);
    if (!v) throw new Error(`no SAE at ${hook}`);
    return v;
  }

  /** The view's weights: prefix slices of its dictionary (fresh tensors every call). */
  weights(v: SaeView): SaeWeights {
    const full = v.dict.wDec.shape[0] === v.width;
    return {
      wEnc: (full ? v.dict.wEnc : tf.slice(v.dict.wEnc, [0, 0], [-1, v.width])) as tf.Tensor2D,
      bEnc: v.bEnc as tf.Tensor1D,
      wDec: (full ? v.dict.wDec : tf.slice(v.dict.wDec, [0, 0], [v.width, -1])) as tf.Tensor2D,
      bDec: v.bDec as tf.Tensor1D,
      ...(v.threshold ? { threshold: v.threshold as tf.Tensor1D } : {}),
    };
  }

  /** Every trainable variable by checkpoint name (`<dict>.W_enc`, `<hook>.b_enc`, ...). */
  params(): Record<string, tf.Variable> {
    const out: Record<string, tf.Variable> = {};
    for (const d of this.dictionaries) {
      out[`${d.name}.W_enc`] = d.wEnc;
      out[`${d.name}.W_dec`] = d.wDec;
    }
    for (const [key, v] of this.biasVars) out[key] = v;
    return out;
  }

  numParams(): number {
    return Object.values(this.params()).reduce((a, v) => a + v.size, 0);
  }

  dispose(): void {
    for (const v of Object.values(this.params())) v.dispose();
  }
}
