/**
 * The GPT of SPEC §1: pre-LN blocks, learned positions, tied embedding / head, GELU (tanh) MLP, optional DyT
 * before the MLP. The toy `ascii-64x4` and GPT-2 Small differ only in their config.
 *
 *   h_mid = h + Attn(LN1(h))                      Attn = causal multi-head self-attention
 *   h_out = h_mid + MLP(LN2(h_mid))               MLP(m) = gelu_tanh(m W_fc + b_fc) W_pr + b_pr
 *   logits = LN_f(h_L) · wteᵀ
 *
 * Every intermediate has its TransformerLens hook name (SPEC §2) and can be read (`capture`), replaced
 * (`patch`), or used as the starting point of a forward pass (`from`), which SAEs and SCALAR need.
 * Parameters use Hugging Face GPT-2 names; matrices are stored [in, out] as HF's Conv1D does.
 */
import * as tf from '@tensorflow/tfjs';
import type { GptConfig } from '../../../src-shared/lm.ts';
import { causalSelfAttention, dyt, embedding, gelu, layerNorm, linear, transpose2d } from '../kernels/ops.ts';
import { Rng } from '../random.ts';

export type GptParams = Record<string, tf.Variable>;

// tfjs variable names are process-global; several models may be alive at once.
let variableCounter = 0;

/** Stages of one block in execution order (TransformerLens names, relative to `blocks.{l}.`). */
export const BLOCK_STAGES = [
  'hook_resid_pre',
  'ln1.hook_normalized',
  'hook_attn_out',
  'hook_resid_mid',
  'ln2.hook_normalized',
  'mlp.hook_pre',
  'mlp.hook_post',
  'hook_mlp_out',
  'hook_resid_post',
] as const;
export type BlockStage = (typeof BLOCK_STAGES)[number];

export interface HookPoint {
  /** Block index, or nLayer for `ln_final.hook_normalized`. */
  layer: number;
  stage: BlockStage | 'ln_final.hook_normalized';
}

export function parseHook(name: string, nLayer: number): HookPoint {
  if (name === 'ln_final.hook_normalized') return { layer: nLayer, stage: name };
  const m = /^blocks\.(\d+)\.(.+)$/.exec(name);
  if (m && Number(m[1]) < nLayer && (BLOCK_STAGES as readonly string[]).includes(m[2])) {
    return { layer: Number(m[1]), stage: m[2] as BlockStage };
  }
  throw new Error(`unknown hook '${name}' for a ${nLayer}-layer model (e.g. blocks.0.hook_resid_pre)`);
}

export function allHookNames(nLayer: number): string[] {
  const names: string[] = [];
  for (let l = 0; l < nLayer; l++) for (const s of BLOCK_STAGES) names.push(`blocks.${l}.${s}`);
  return [...names, 'ln_final.hook_normalized'];
}

export interface RunOptions {
  /** Start of the pass: token ids [B, T] (a full forward), or a hook value plus the residuals it needs. */
  tokens?: tf.Tensor2D;
  from?: {
    hook: string;
    value: tf.Tensor3D;
    /** Residual-stream values the rest of the block needs: `blocks.{l}.hook_resid_pre` when starting inside
     * attention, `blocks.{l}.hook_resid_mid` when starting inside the MLP. */
    context?: Record<string, tf.Tensor3D>;
  };
  /** Replace a hook's value (e.g. an SAE reconstruction) before the pass continues. */
  patch?: Record<string, (x: tf.Tensor3D) => tf.Tensor3D>;
  /** Hook names whose values are returned in `cache` (ordinary tensors: inside a tidy, return what you keep). */
  capture?: Iterable<string>;
  /** Stop after this hook (no logits). */
  stopAt?: string;
}

export interface RunResult {
  logits: tf.Tensor3D | null;
  cache: Record<string, tf.Tensor3D>;
}

export class Gpt {
  constructor(
    readonly config: GptConfig,
    readonly params: GptParams,
  ) {}

  /** SPEC §1.1 initialisation from a seed (backend-independent random numbers). */
  static init(config: GptConfig, seed: number): Gpt {
    const rng = Rng.derive(seed, 'gpt-init');
    const { vocabSize: V, contextLength: T, dModel: D, nLayer: L, dMlp: M } = config;
    const std = 0.02;
    const projStd = 0.02 / Math.sqrt(2 * L);
    const p: Record<string, tf.Tensor> = {};
    const normal = (shape: number[], s: number) =>
      tf.tensor(
        rng.normalArray(
          shape.reduce((a, c) => a * c, 1),
          s,
        ),
        shape,
      );
    p['wte.weight'] = normal([V, D], std);
    p['wpe.weight'] = normal([T, D], std);
    for (let l = 0; l < L; l++) {
      const h = `h.${l}`;
      p[`${h}.ln_1.weight`] = tf.ones([D]);
      p[`${h}.ln_1.bias`] = tf.zeros([D]);
      p[`${h}.attn.c_attn.weight`] = normal([D, 3 * D], std);
      p[`${h}.attn.c_attn.bias`] = tf.zeros([3 * D]);
      p[`${h}.attn.c_proj.weight`] = normal([D, D], projStd);
      p[`${h}.attn.c_proj.bias`] = tf.zeros([D]);
      p[`${h}.ln_2.weight`] = tf.ones([D]);
      p[`${h}.ln_2.bias`] = tf.zeros([D]);
      if (config.norm2 === 'dyt') p[`${h}.ln_2.alpha`] = tf.scalar(config.dytAlphaInit);
      p[`${h}.mlp.c_fc.weight`] = normal([D, M], std);
      p[`${h}.mlp.c_fc.bias`] = tf.zeros([M]);
      p[`${h}.mlp.c_proj.weight`] = normal([M, D], projStd);
      p[`${h}.mlp.c_proj.bias`] = tf.zeros([D]);
    }
    p['ln_f.weight'] = tf.ones([D]);
    p['ln_f.bias'] = tf.zeros([D]);
    return Gpt.fromTensors(config, p);
  }

  /** Wraps tensors as trainable variables (takes ownership of them). */
  static fromTensors(config: GptConfig, tensors: Record<string, tf.Tensor>): Gpt {
    const params: GptParams = {};
    for (const [name, t] of Object.entries(tensors)) {
      params[name] = tf.variable(t, true, `${name}#${++variableCounter}`);
      t.dispose();
    }
    return new Gpt(config, params);
  }

  numParams(): number {
    return Object.values(this.params).reduce((n, v) => n + v.size, 0);
  }

  dispose(): void {
    for (const v of Object.values(this.params)) v.dispose();
  }

  private w(name: string): tf.Tensor {
    const v = this.params[name];
    if (!v) throw new Error(`missing parameter ${name}`);
    return v;
  }

  /** One block's stages in order; each computes its hook value from the values before it. */
  private blockSteps(l: number): [BlockStage, (v: (stage: BlockStage) => tf.Tensor3D) => tf.Tensor][] {
    const p = (n: string) => this.w(`h.${l}.${n}`);
    const { nHead, lnEps, norm2 } = this.config;
    return [
      [
        'ln1.hook_normalized',
        (v) =>
          layerNorm(
            v('hook_resid_pre'),
            p('ln_1.weight') as tf.Tensor1D,
            p('ln_1.bias') as tf.Tensor1D,
            lnEps,
          ),
      ],
      [
        'hook_attn_out',
        (v) => {
          const qkv = linear(
            v('ln1.hook_normalized'),
            p('attn.c_attn.weight') as tf.Tensor2D,
            p('attn.c_attn.bias') as tf.Tensor1D,
          );
          return linear(
            causalSelfAttention(qkv as tf.Tensor3D, nHead),
            p('attn.c_proj.weight') as tf.Tensor2D,
            p('attn.c_proj.bias') as tf.Tensor1D,
          );
        },
      ],
      ['hook_resid_mid', (v) => tf.add(v('hook_resid_pre'), v('hook_attn_out'))],
      [
        'ln2.hook_normalized',
        (v) =>
          norm2 === 'dyt'
            ? dyt(
                v('hook_resid_mid'),
                p('ln_2.alpha'),
                p('ln_2.weight') as tf.Tensor1D,
                p('ln_2.bias') as tf.Tensor1D,
              )
            : layerNorm(
                v('hook_resid_mid'),
                p('ln_2.weight') as tf.Tensor1D,
                p('ln_2.bias') as tf.Tensor1D,
                lnEps,
              ),
      ],
      [
        'mlp.hook_pre',
        (v) =>
          linear(
            v('ln2.hook_normalized'),
            p('mlp.c_fc.weight') as tf.Tensor2D,
            p('mlp.c_fc.bias') as tf.Tensor1D,
          ),
      ],
      ['mlp.hook_post', (v) => gelu(v('mlp.hook_pre'))],
      [
        'hook_mlp_out',
        (v) =>
          linear(
            v('mlp.hook_post'),
            p('mlp.c_proj.weight') as tf.Tensor2D,
            p('mlp.c_proj.bias') as tf.Tensor1D,
          ),
      ],
      ['hook_resid_post', (v) => tf.add(v('hook_resid_mid'), v('hook_mlp_out'))],
    ];
  }

  /** Token + position embedding [B, T, D]. */
  embed(tokens: tf.Tensor2D): tf.Tensor3D {
    const [B, T] = tokens.shape;
    if (T > this.config.contextLength)
      throw new Error(`sequence of ${T} tokens exceeds the context length ${this.config.contextLength}`);
    const D = this.config.dModel;
    const tok = embedding(this.w('wte.weight') as tf.Tensor2D, tokens.reshape([-1]) as tf.Tensor1D).reshape([
      B,
      T,
      D,
    ]);
    return tf.add(tok, tf.slice(this.w('wpe.weight'), [0, 0], [T, D])) as tf.Tensor3D;
  }

  /** logits [B, T, V] = LN_f(h) · wteᵀ (tied head, no bias); `normalized` is the ln_final hook value. */
  head(normalized: tf.Tensor3D): tf.Tensor3D {
    return linear(normalized, transpose2d(this.w('wte.weight') as tf.Tensor2D)) as tf.Tensor3D;
  }

  run(opts: RunOptions): RunResult {
    const { nLayer } = this.config;
    const capture = new Set(opts.capture ?? []);
    const cache: Record<string, tf.Tensor3D> = {};
    let stopped = false;
    const hook = (name: string, x: tf.Tensor): tf.Tensor3D => {
      const fn = opts.patch?.[name];
      const y = (fn ? fn(x as tf.Tensor3D) : x) as tf.Tensor3D;
      if (capture.has(name)) cache[name] = y;
      if (name === opts.stopAt) stopped = true;
      return y;
    };

    let start: HookPoint;
    let startValue: tf.Tensor3D;
    if (opts.from) {
      start = parseHook(opts.from.hook, nLayer);
      startValue = hook(opts.from.hook, opts.from.value);
    } else {
      if (!opts.tokens) throw new Error('Gpt.run needs tokens or a starting hook');
      start = { layer: 0, stage: 'hook_resid_pre' };
      startValue = hook('blocks.0.hook_resid_pre', this.embed(opts.tokens));
    }

    let resid = startValue;
    for (let l = start.layer; l < nLayer && !stopped; l++) {
      const vals: Partial<Record<BlockStage, tf.Tensor3D>> = {};
      const first = l === start.layer ? (start.stage as BlockStage) : 'hook_resid_pre';
      if (l === start.layer) {
        vals[first] = startValue;
        for (const [name, value] of Object.entries(opts.from?.context ?? {})) {
          const c = parseHook(name, nLayer);
          if (c.layer === l) vals[c.stage as BlockStage] = value;
        }
      } else {
        vals.hook_resid_pre = hook(`blocks.${l}.hook_resid_pre`, resid);
      }
      const need = (stage: BlockStage): tf.Tensor3D => {
        const v = vals[stage];
        if (!v)
          throw new Error(
            `a forward pass from blocks.${l}.${first} needs blocks.${l}.${stage} in its context`,
          );
        return v;
      };
      for (const [stage, compute] of this.blockSteps(l)) {
        if (BLOCK_STAGES.indexOf(stage) <= BLOCK_STAGES.indexOf(first) || stopped) continue;
        vals[stage] = hook(`blocks.${l}.${stage}`, compute(need));
      }
      resid = vals.hook_resid_post!;
    }
    if (stopped) return { logits: null, cache };

    const normalized =
      start.stage === 'ln_final.hook_normalized'
        ? startValue
        : hook(
            'ln_final.hook_normalized',
            layerNorm(
              resid,
              this.w('ln_f.weight') as tf.Tensor1D,
              this.w('ln_f.bias') as tf.Tensor1D,
              this.config.lnEps,
            ),
          );
    if (stopped) return { logits: null, cache };
    return { logits: this.head(normalized), cache };
  }

  /** Logits for token ids [B, T]. */
  forward(tokens: tf.Tensor2D): tf.Tensor3D {
    return this.run({ tokens }).logits!;
  }
}
