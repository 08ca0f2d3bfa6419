/**
 * Hugging Face GPT-2 folders (SPEC §1.3, issue 12 item 1): small GPT-2-shaped checkpoints written here in the
 * layout of the `gpt2` repository (config.json with its HF keys, model.safetensors with Conv1D [in, out] matrices,
 * attention-bias buffers, optionally a `transformer.` prefix and a tied lm_head.weight; F32, F16 or BF16), loaded
 * through the engine's model interface and checked against a straightforward float64 GPT-2 written below (HF's
 * q/k/v split, GELU-new, LayerNorm eps from the config) to 1e-4; the refusals each with their message;
 * `scalar score` against the same reference on the real BPE vocabulary.
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { initBackend } from '../../src-main/engine/backend.ts';
import { loadLmModel, readLmTokenizerName, readLmWeights } from '../../src-main/engine/io/lmCheckpoint.ts';
import {
  bf16BitsToFloat32,
  float32ToBf16Bits,
  float32ToHalfBits,
  halfBitsToFloat32,
} from '../../src-main/engine/io/safetensors.ts';
import { scoreTokens } from '../../src-main/engine/lm/score.ts';
import { encodeGpt2 } from '../../src-main/engine/text/bpe.ts';
import { main } from '../../src-main/cli/main.ts';
import { preflightJob } from '../../src-main/jobs/preflight.ts';
import { Store } from '../../src-main/store/index.ts';
import { SaeTrainConfigSchema } from '../../src-shared/sae.ts';
import {
  gpt2Weights,
  hfConfig,
  writeGpt2Folder,
  type Shape,
  type Weights,
  type WriteOptions,
} from './gpt2.helpers.ts';

// ---------------------------------------------------------------------------------------------------------
// A GPT-2-shaped checkpoint and an independent float64 GPT-2
// ---------------------------------------------------------------------------------------------------------

/** Logits [T, V] of one sequence, in float64, as HF's GPT2LMHeadModel computes them (eval mode). */
function refLogits(s: Shape, w: Weights, ids: ArrayLike<number>): Float64Array {
  const { V, D, L, H, eps } = s;
  const T = ids.length;
  const hd = D / H;
  const g = (n: string) => w[n].data;
  const ln = (x: Float64Array, gamma: Float32Array, beta: Float32Array) => {
    const out = new Float64Array(x.length);
    for (let t = 0; t < T; t++) {
      let mean = 0;
      for (let d = 0; d < D; d++) mean += x[t * D + d];
      mean /= D;
      let v = 0;
      for (let d = 0; d < D; d++) v += (x[t * D + d] - mean) ** 2;
      const inv = 1 / Math.sqrt(v / D + eps);
      for (let d = 0; d < D; d++) out[t * D + d] = (x[t * D + d] - mean) * inv * gamma[d] + beta[d];
    }
    return out;
  };
  const conv1d = (x: Float64Array, n: string, nIn: number, nOut: number) => {
    const W = g(`${n}.weight`);
    const b = g(`${n}.bias`);
    const out = new Float64Array(T * nOut);
    for (let t = 0; t < T; t++)
      for (let o = 0; o < nOut; o++) {
        let acc = b[o];
        for (let i = 0; i < nIn; i++) acc += x[t * nIn + i] * W[i * nOut + o];
        out[t * nOut + o] = acc;
      }
    return out;
  };
  const h = new Float64Array(T * D);
  for (let t = 0; t < T; t++)
    for (let d = 0; d < D; d++) h[t * D + d] = g('wte.weight')[ids[t] * D + d] + g('wpe.weight')[t * D + d];
  for (let l = 0; l < L; l++) {
    const p = `h.${l}`;
    const a = ln(h, g(`${p}.ln_1.weight`), g(`${p}.ln_1.bias`));
    const qkv = conv1d(a, `${p}.attn.c_attn`, D, 3 * D);
    const merged = new Float64Array(T * D);
    for (let head = 0; head < H; head++) {
      // HF: q, k, v = c_attn(x).split(n_embd, dim=2); each viewed as [T, H, head_dim]
      const q = (t: number, i: number) => qkv[t * 3 * D + head * hd + i];
      const k = (t: number, i: number) => qkv[t * 3 * D + D + head * hd + i];
      const v = (t: number, i: number) => qkv[t * 3 * D + 2 * D + head * hd + i];
      for (let t = 0; t < T; t++) {
        const scores: number[] = [];
        for (let u = 0; u <= t; u++) {
          let dot = 0;
          for (let i = 0; i < hd; i++) dot += q(t, i) * k(u, i);
          scores.push(dot / Math.sqrt(hd));
        }
        const mx = Math.max(...scores);
        const e = scores.map((x) => Math.exp(x - mx));
        const z = e.reduce((x, y) => x + y, 0);
        for (let i = 0; i < hd; i++) {
          let acc = 0;
          for (let u = 0; u <= t; u++) acc += (e[u] / z) * v(u, i);
          merged[t * D + head * hd + i] = acc;
        }
      }
    }
    const attnOut = conv1d(merged, `${p}.attn.c_proj`, D, D);
    for (let i = 0; i < h.length; i++) h[i] += attnOut[i];
    const m = ln(h, g(`${p}.ln_2.weight`), g(`${p}.ln_2.bias`));
    const pre = conv1d(m, `${p}.mlp.c_fc`, D, 4 * D);
    const post = pre.map((x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))));
    const mlpOut = conv1d(post, `${p}.mlp.c_proj`, 4 * D, D);
    for (let i = 0; i < h.length; i++) h[i] += mlpOut[i];
  }
  const f = ln(h, g('ln_f.weight'), g('ln_f.bias'));
  const wte = g('wte.weight');
  const logits = new Float64Array(T * V);
  for (let t = 0; t < T; t++)
    for (let vv = 0; vv < V; vv++) {
      let acc = 0;
      for (let d = 0; d < D; d++) acc += f[t * D + d] * wte[vv * D + d];
      logits[t * V + vv] = acc;
    }
  return logits;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** The weights as a file of `dtype` holds them (F16/BF16 rounded). */
function rounded(w: Weights, dtype: 'F16' | 'BF16'): Weights {
  const out: Weights = {};
  for (const [n, t] of Object.entries(w))
    out[n] = {
      shape: t.shape,
      data:
        dtype === 'F16'
          ? halfBitsToFloat32(float32ToHalfBits(t.data))
          : bf16BitsToFloat32(float32ToBf16Bits(t.data)),
    };
  return out;
}

// ---------------------------------------------------------------------------------------------------------

let tmp: string;
beforeAll(async () => {
  await initBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gpt2-load-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const SMALL: Shape = { V: 300, T: 24, D: 64, L: 2, H: 4, eps: 1e-3 };

async function modelLogits(dir: string, ids: number[]): Promise<Float32Array> {
  const gpt = loadLmModel(dir);
  try {
    const logits = gpt.forward(tf.tensor2d(ids, [1, ids.length], 'int32'));
    const out = (await logits.data()) as Float32Array;
    logits.dispose();
    return out;
  } finally {
    gpt.dispose();
  }
}

describe('loading a Hugging Face GPT-2 folder', () => {
  const w = gpt2Weights(SMALL, 1);
  const ids = [5, 17, 299, 0, 42, 42, 7, 123, 250, 3, 88, 19, 64, 201, 150, 9, 1, 2, 33, 71];

  it('computes the logits of a float64 GPT-2 (Conv1D [in, out], tied head, GELU-new, eps from config)', async () => {
    const dir = writeGpt2Folder(path.join(tmp, 'f32'), SMALL, w);
    const { config } = readLmWeights(dir);
    expect(config).toMatchObject({
      vocabSize: 300,
      contextLength: 24,
      dModel: 64,
      nLayer: 2,
      nHead: 4,
      dMlp: 256,
    });
    expect(config.lnEps).toBe(1e-3);
    // A cut vocabulary cannot take BPE ids: the character tokenizer, unless config.json names one.
    expect(readLmTokenizerName(dir)).toBe('ascii');
    const diff = maxAbsDiff(await modelLogits(dir, ids), refLogits(SMALL, w, ids));
    expect(diff).toBeLessThan(1e-4);
  });

  it('accepts the transformer. prefix and a tied lm_head.weight, and a model.safetensors path', async () => {
    const dir = writeGpt2Folder(path.join(tmp, 'prefixed'), SMALL, w, {
      prefix: 'transformer.',
      lmHead: true,
    });
    const diff = maxAbsDiff(
      await modelLogits(path.join(dir, 'model.safetensors'), ids),
      refLogits(SMALL, w, ids),
    );
    expect(diff).toBeLessThan(1e-4);
  });

  for (const dtype of ['F16', 'BF16'] as const)
    it(`widens ${dtype} weights to F32 on load`, async () => {
      const dir = writeGpt2Folder(path.join(tmp, dtype), SMALL, w, { dtype });
      const diff = maxAbsDiff(await modelLogits(dir, ids), refLogits(SMALL, rounded(w, dtype), ids));
      expect(diff).toBeLessThan(1e-4);
    });

  it('runs forward-from-any-hook like the toy model (same model interface)', async () => {
    const dir = path.join(tmp, 'f32');
    const gpt = loadLmModel(dir);
    try {
      const tokens = tf.tensor2d(ids, [1, ids.length], 'int32');
      const full = gpt.run({ tokens, capture: ['blocks.1.hook_resid_mid', 'blocks.1.hook_resid_pre'] });
      const resumed = gpt.run({
        from: { hook: 'blocks.1.hook_resid_mid', value: full.cache['blocks.1.hook_resid_mid'] },
      });
      expect(maxAbsDiff(await full.logits!.data(), await resumed.logits!.data())).toBeLessThan(1e-5);
      tf.dispose([tokens, full.logits!, resumed.logits!, ...Object.values(full.cache)]);
    } finally {
      gpt.dispose();
    }
  });

  it('reads the size from the config (n_inner, n_positions, heads)', () => {
    const s: Shape = { V: 50, T: 8, D: 32, L: 3, H: 2, eps: 1e-5 };
    const dir = writeGpt2Folder(path.join(tmp, 'other-size'), s, gpt2Weights(s, 2));
    expect(readLmWeights(dir).config).toMatchObject({
      vocabSize: 50,
      contextLength: 8,
      nLayer: 3,
      dMlp: 128,
    });
    const { n_positions: _, ...onlyNCtx } = hfConfig(s);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(onlyNCtx));
    expect(readLmWeights(dir).config.contextLength).toBe(8);
  });
});

describe('refusing what is not a usable GPT-2 folder', () => {
  const s: Shape = { V: 40, T: 8, D: 16, L: 1, H: 2, eps: 1e-5 };
  const w = gpt2Weights(s, 3);
  let n = 0;
  const folder = (o: WriteOptions = {}) => writeGpt2Folder(path.join(tmp, `bad-${n++}`), s, w, o);
  const refused = (dir: string) => {
    try {
      readLmWeights(dir);
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error('not refused');
  };

  it('a missing config.json', () => {
    const dir = folder();
    fs.rmSync(path.join(dir, 'config.json'));
    expect(refused(dir)).toBe(`no config.json in ${dir}`);
  });

  it('a missing model file', () => {
    const dir = folder();
    fs.rmSync(path.join(dir, 'model.safetensors'));
    expect(refused(dir)).toBe(`no model file at ${path.join(dir, 'model.safetensors')}`);
  });

  it('pytorch_model.bin instead of model.safetensors', () => {
    const dir = folder();
    fs.renameSync(path.join(dir, 'model.safetensors'), path.join(dir, 'pytorch_model.bin'));
    expect(refused(dir)).toMatch(
      /has pytorch_model\.bin but no model\.safetensors: PyTorch pickle files are not loaded .*save_pretrained\(dir, safe_serialization=True\)/,
    );
  });

  it('another architecture', () => {
    const llama = folder({
      config: { ...hfConfig(s), model_type: 'llama', architectures: ['LlamaForCausalLM'] },
    });
    expect(refused(llama)).toMatch(
      /describes a 'llama' model \('model_type'\); only GPT-2 checkpoints are supported/,
    );
    const arch = folder({ config: { ...hfConfig(s), architectures: ['GPTNeoForCausalLM'] } });
    expect(refused(arch)).toMatch(
      /describes 'GPTNeoForCausalLM' \('architectures'\); only GPT-2 checkpoints/,
    );
    const relu = folder({ config: { ...hfConfig(s), activation_function: 'relu' } });
    expect(refused(relu)).toMatch(
      /'activation_function' must be "gelu_new" or "gelu_pytorch_tanh" .*got 'relu'/,
    );
    const untied = folder({ config: { ...hfConfig(s), tie_word_embeddings: false } });
    expect(refused(untied)).toMatch(/'tie_word_embeddings' is false/);
    const layerScaled = folder({ config: { ...hfConfig(s), scale_attn_by_inverse_layer_idx: true } });
    expect(refused(layerScaled)).toMatch(/'scale_attn_by_inverse_layer_idx' is true .* not supported/);
  });

  it('a tensor whose shape does not match the config (e.g. a Linear [out, in] matrix)', () => {
    const dir = folder({
      edit: (t) => (t['h.0.attn.c_attn.weight'] = { ...t['h.0.attn.c_attn.weight'], shape: [3 * s.D, s.D] }),
    });
    expect(refused(dir)).toBe(
      `${path.join(dir, 'model.safetensors')}: tensor 'h.0.attn.c_attn.weight': expected F32 [16,48], got F32 [48,16] ` +
        `(config.json: vocab 40, context 8, d_model 16, 1 layers, MLP 64)`,
    );
  });

  it('a missing tensor and an unexpected one', () => {
    const missing = folder({ edit: (t) => delete t['h.0.mlp.c_fc.bias'] });
    expect(refused(missing)).toBe(
      `${path.join(missing, 'model.safetensors')}: missing tensor h.0.mlp.c_fc.bias`,
    );
    const extra = folder({ edit: (t) => (t['h.1.ln_1.weight'] = t['h.0.ln_1.weight']) });
    expect(refused(extra)).toMatch(/unexpected tensors for this config: h\.1\.ln_1\.weight/);
  });

  it('unsupported dtypes', () => {
    const f64 = folder({
      edit: (t) =>
        (t['ln_f.bias'] = { dtype: 'F64', shape: [s.D], data: Float64Array.from(w['ln_f.bias'].data) }),
    });
    expect(refused(f64)).toBe(
      `${path.join(f64, 'model.safetensors')}: tensor 'ln_f.bias': expected F32 [16], got F64 [16]; ` +
        'model weights must be F32, F16 or BF16 (F16 and BF16 are widened to F32 on load)',
    );
    const i32 = folder({
      edit: (t) => (t['ln_f.weight'] = { dtype: 'I32', shape: [s.D], data: new Int32Array(s.D) }),
    });
    expect(refused(i32)).toMatch(
      /tensor 'ln_f\.weight': expected F32 \[16\], got I32 \[16\]; model weights must be F32, F16 or BF16/,
    );
  });
});

describe('a GPT-2 folder wherever an LM is named', () => {
  // The real BPE vocabulary, so `scalar score` can tokenize text for it.
  const s: Shape = { V: 50257, T: 8, D: 32, L: 2, H: 4, eps: 1e-5 };
  const w = gpt2Weights(s, 4);
  const text =
    'The Fulton County Grand Jury said Friday an investigation of recent primary election produced no evidence.\n' +
    'Hello world! Tokenizers split text into pieces.';
  let dir: string;
  let textFile: string;
  beforeAll(() => {
    dir = writeGpt2Folder(path.join(tmp, 'real-vocab'), s, w);
    textFile = path.join(tmp, 'score.txt');
    fs.writeFileSync(textFile, text);
  });

  /** Mean CE of the float64 model over windows of T+1 tokens sharing one token. */
  function refScore(ids: Int32Array): { meanCe: number; tokens: number } {
    let sum = 0;
    let n = 0;
    for (let start = 0; start + 1 < ids.length; start += s.T) {
      const win = ids.subarray(start, Math.min(ids.length, start + s.T + 1));
      const inputs = Array.from(win.subarray(0, win.length - 1));
      const logits = refLogits(s, w, inputs);
      for (let t = 0; t < inputs.length; t++) {
        const row = logits.subarray(t * s.V, (t + 1) * s.V);
        let mx = -Infinity;
        for (const x of row) mx = Math.max(mx, x);
        let z = 0;
        for (const x of row) z += Math.exp(x - mx);
        sum += mx + Math.log(z) - row[win[t + 1]];
        n++;
      }
    }
    return { meanCe: sum / n, tokens: n };
  }

  it('uses GPT-2 BPE for the full vocabulary, or the tokenizer config.json names', () => {
    expect(readLmTokenizerName(dir)).toBe('gpt2');
    const named = path.join(tmp, 'named-tokenizer');
    fs.mkdirSync(named, { recursive: true });
    const write = (scalar: unknown) =>
      fs.writeFileSync(path.join(named, 'config.json'), JSON.stringify({ ...hfConfig(SMALL), scalar }));
    fs.writeFileSync(
      path.join(named, 'config.json'),
      JSON.stringify({ ...hfConfig({ ...SMALL, V: 50304 }), scalar: { tokenizer: 'gpt2' } }),
    );
    expect(readLmTokenizerName(named)).toBe('gpt2');
    write({ tokenizer: 'gpt2' });
    expect(() => readLmTokenizerName(named)).toThrow(
      /'scalar.tokenizer' is "gpt2" but 'vocab_size' is 300; GPT-2 BPE needs 50257 ids/,
    );
    write({ norm2: 'layernorm' });
    expect(readLmTokenizerName(named)).toBe('ascii');
    write({ tokenizer: 'sentencepiece' });
    expect(() => readLmTokenizerName(named)).toThrow(
      /'scalar.tokenizer' must be "ascii" or "gpt2" \(got 'sentencepiece'\)/,
    );
  });

  it('scores a text as the float64 model does', async () => {
    const ids = encodeGpt2(text);
    expect(ids.length).toBeGreaterThan(2 * s.T);
    const ref = refScore(ids);
    const gpt = loadLmModel(dir);
    try {
      const got = await scoreTokens(gpt, [ids.subarray(0, 7), ids.subarray(7)], { batchSize: 2 });
      expect(got.tokens).toBe(ids.length - 1);
      expect(got.tokens).toBe(ref.tokens);
      expect(Math.abs(got.meanCe - ref.meanCe)).toBeLessThan(1e-4);
    } finally {
      gpt.dispose();
    }
  });

  it('`scalar score --lm FOLDER --corpus FILE --json` prints the mean CE and the token count', async () => {
    const ref = refScore(encodeGpt2(text));
    const out: string[] = [];
    const spyOut = vi.spyOn(process.stdout, 'write').mockImplementation((c) => (out.push(String(c)), true));
    const spyErr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    let code;
    try {
      code = await main([
        'score',
        '--lm',
        dir,
        '--corpus',
        textFile,
        '--json',
        '--data-dir',
        path.join(tmp, 'data'),
      ]);
    } finally {
      spyOut.mockRestore();
      spyErr.mockRestore();
    }
    expect(code).toBe(0);
    const result = JSON.parse(out.join('').trim().split('\n').at(-1)!);
    expect(result).toMatchObject({ status: 'ok', tokenizer: 'gpt2', tokens: ref.tokens });
    expect(Math.abs(result.mean_ce - ref.meanCe)).toBeLessThan(1e-4);
  });

  it('passes the preflight of an SAE training job', () => {
    const store = Store.open(path.join(tmp, 'preflight-store'), { appVersion: 'test' });
    try {
      const config = SaeTrainConfigSchema.parse({
        preset: 'quick',
        lm: dir,
        arch: 'topk',
        setup: 'ffblock',
        width: 64,
        k: 4,
        schedule: { steps: 10, batchSize: 2, seqLen: 8 },
      });
      const result = preflightJob({ kind: 'train-sae', config }, store);
      expect(result.inputs.map((i) => path.basename(i.path)).sort()).toEqual([
        'config.json',
        'model.safetensors',
      ]);
      // A corpus long enough in characters but not in GPT-2 tokens (" a" is one token of two characters).
      const short = path.join(tmp, 'short-in-tokens.txt');
      fs.writeFileSync(short, 'a '.repeat(60));
      expect(() => preflightJob({ kind: 'train-sae', config: { ...config, corpus: short } }, store)).toThrow(
        /too short for context length T=8: it needs at least \d+ tokens but has 61\b/,
      );
      // A tokenizer the model's vocabulary cannot take is refused before any run exists.
      const small: Shape = { V: 300, T: 8, D: 16, L: 1, H: 2, eps: 1e-5 };
      const bad = writeGpt2Folder(path.join(tmp, 'bpe-cut-vocab'), small, gpt2Weights(small, 5), {
        config: { ...hfConfig(small), scalar: { tokenizer: 'gpt2' } },
      });
      expect(() => preflightJob({ kind: 'train-sae', config: { ...config, lm: bad } }, store)).toThrow(
        /^language model .*bpe-cut-vocab: 'scalar.tokenizer' is "gpt2" but 'vocab_size' is 300/,
      );
    } finally {
      store.close();
    }
  });
});
