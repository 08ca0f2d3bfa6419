/**
 * AdamW (decoupled weight decay, PyTorch semantics), global gradient-norm clipping and the warmup + cosine
 * learning-rate schedule used by every trainer here (SPEC §1.2, §3.4).
 */
import * as tf from '@tensorflow/tfjs';
import { readScalar } from './backend.ts';
import { useKernel } from './kernels/ops.ts';
import { runScalarKernel } from './kernels/registry.ts';

export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  /** Weight decay per parameter name (e.g. 0.1 for matrices, 0 for biases and norms). */
  weightDecay: (name: string, param: tf.Variable) => number;
}

/** Warmup then cosine decay; steps count from 1 as in the reference trainers. */
export function cosineLr(step: number, lr: number, minLr: number, warmup: number, maxSteps: number): number {
  if (step <= warmup) return (lr * step) / Math.max(1, warmup);
  if (step >= maxSteps) return minLr;
  const frac = (step - warmup) / (maxSteps - warmup);
  return minLr + 0.5 * (1 + Math.cos(Math.PI * frac)) * (lr - minLr);
}

/** Decay matrices (≥ 2-D), not biases, norm gains or scalars. */
export const decayMatricesOnly = (wd: number) => (_name: string, p: tf.Variable) => (p.rank >= 2 ? wd : 0);

export class AdamW {
  step = 0;
  readonly m: Record<string, tf.Variable> = {};
  readonly v: Record<string, tf.Variable> = {};

  constructor(
    readonly params: Record<string, tf.Variable>,
    readonly config: AdamWConfig,
  ) {
    for (const [name, p] of Object.entries(params)) {
      // tf.variable shares its initial tensor's data and leaves that tensor alive: let tidy dispose it.
      tf.tidy(() => {
        this.m[name] = tf.variable(tf.zerosLike(p), false);
        this.v[name] = tf.variable(tf.zerosLike(p), false);
      });
    }
  }

  /**
   * One update with learning rate `lr` from `grads` (same keys as params), after clipping their global L2
   * norm to `clip`. Returns the pre-clip norm; a non-finite norm (NaN/Inf gradients) changes nothing, and
   * the caller decides what a diverged step means.
   */
  async apply(grads: Record<string, tf.Tensor>, lr: number, clip: number): Promise<number> {
    const norm = await globalNorm(Object.values(grads));
    if (!Number.isFinite(norm)) return norm;
    this.step += 1;
    const { beta1, beta2, eps } = this.config;
    const bc1 = 1 - beta1 ** this.step;
    const bc2 = 1 - beta2 ** this.step;
    const scale = norm > clip ? clip / (norm + 1e-6) : 1; // torch.nn.utils.clip_grad_norm_
    const fused = useKernel('ScalarAdamW');
    tf.tidy(() => {
      for (const [name, p] of Object.entries(this.params)) {
        const g0 = grads[name];
        if (!g0) continue;
        if (fused) {
          const wd = this.config.weightDecay(name, p);
          const [p1, m1, v1] = runScalarKernel(
            'ScalarAdamW',
            { p, g: g0, m: this.m[name], v: this.v[name] },
            {
              gScale: scale,
              beta1,
              oneMinusBeta1: 1 - beta1,
              beta2,
              oneMinusBeta2: 1 - beta2,
              bc1,
              bc2,
              eps,
              lr,
              keep: wd > 0 ? 1 - lr * wd : 1,
            },
          );
          this.m[name].assign(m1);
          this.v[name].assign(v1);
          p.assign(p1);
          continue;
        }
        const g = scale === 1 ? g0 : tf.mul(g0, scale);
        const m = tf.add(tf.mul(this.m[name], beta1), tf.mul(g, 1 - beta1));
        const v = tf.add(tf.mul(this.v[name], beta2), tf.mul(tf.square(g), 1 - beta2));
        this.m[name].assign(m);
        this.v[name].assign(v);
        const update = tf.div(tf.div(m, bc1), tf.add(tf.sqrt(tf.div(v, bc2)), eps));
        const wd = this.config.weightDecay(name, p);
        const decayed = wd > 0 ? tf.mul(p, 1 - lr * wd) : p;
        p.assign(tf.sub(decayed, tf.mul(update, lr)));
      }
    });
    return norm;
  }

  /** Moment tensors for checkpoints, keyed `m.<name>` / `v.<name>`. */
  stateTensors(): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    for (const name of Object.keys(this.params)) {
      out[`m.${name}`] = this.m[name];
      out[`v.${name}`] = this.v[name];
    }
    return out;
  }

  loadState(step: number, tensors: Record<string, tf.Tensor>): void {
    this.step = step;
    for (const name of Object.keys(this.params)) {
      const m = tensors[`m.${name}`];
      const v = tensors[`v.${name}`];
      if (!m || !v) throw new Error(`optimizer state is missing the moments of ${name}`);
      this.m[name].assign(m);
      this.v[name].assign(v);
    }
  }

  dispose(): void {
    for (const t of [...Object.values(this.m), ...Object.values(this.v)]) t.dispose();
  }
}

export async function globalNorm(tensors: tf.Tensor[]): Promise<number> {
  // Added one at a time, in order (what addN does on the CPU backends): tfjs-webgpu's AddN binds every input
  // at once and fails past the device's storage-buffer limit.
  const sumSq = tf.tidy(() =>
    tensors.map((g) => tf.sum(tf.square(g))).reduce((a: tf.Tensor, b) => tf.add(a, b)),
  );
  return Math.sqrt(await readScalar(sumSq));
}
