/**
 * The bad-input suite's own corpus, generated here: a tiny language model folder and SAELens folders written
 * byte by byte (no tfjs, no code under test beyond the safetensors encoder), plus ways to break them, and a
 * snapshot of a store (row counts of every table, every file of the data dir) to show a refusal left no trace.
 */
import fs from 'node:fs';
import path from 'node:path';
import { encodeSafetensors, type TensorInput } from '../../src-main/engine/io/safetensors.ts';
import { runArtifactsDir, type Store } from '../../src-main/store/index.ts';

/** The tiny model: d_model 16, 2 layers, context 16, 2 heads, MLP 64, the ASCII vocabulary. */
export const LM = { D: 16, L: 2, T: 16, H: 2, M: 64, V: 128 };

/** A deterministic pseudo-random generator (xorshift), so every generated file is the same on every run. */
export function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32 - 0.5;
  };
}

function filled(n: number, next: () => number, scale = 0.1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = next() * scale;
  return a;
}

/** HF GPT-2 tensor names and shapes of the tiny model (written from the naming convention, not the loader). */
export function lmShapes(): Record<string, number[]> {
  const { D, L, T, M, V } = LM;
  const s: Record<string, number[]> = {
    'wte.weight': [V, D],
    'wpe.weight': [T, D],
    'ln_f.weight': [D],
    'ln_f.bias': [D],
  };
  for (let l = 0; l < L; l++) {
    const h = `h.${l}`;
    Object.assign(s, {
      [`${h}.ln_1.weight`]: [D],
      [`${h}.ln_1.bias`]: [D],
      [`${h}.attn.c_attn.weight`]: [D, 3 * D],
      [`${h}.attn.c_attn.bias`]: [3 * D],
      [`${h}.attn.c_proj.weight`]: [D, D],
      [`${h}.attn.c_proj.bias`]: [D],
      [`${h}.ln_2.weight`]: [D],
      [`${h}.ln_2.bias`]: [D],
      [`${h}.mlp.c_fc.weight`]: [D, M],
      [`${h}.mlp.c_fc.bias`]: [M],
      [`${h}.mlp.c_proj.weight`]: [M, D],
      [`${h}.mlp.c_proj.bias`]: [D],
    });
  }
  return s;
}

export function lmConfigJson(): Record<string, unknown> {
  const { D, L, T, H, M, V } = LM;
  return {
    model_type: 'gpt2',
    vocab_size: V,
    n_positions: T,
    n_embd: D,
    n_layer: L,
    n_head: H,
    n_inner: M,
    layer_norm_epsilon: 1e-5,
    activation_function: 'gelu_new',
    tie_word_embeddings: true,
  };
}

export function lmTensors(seed = 1): Record<string, TensorInput> {
  const next = rng(seed);
  const out: Record<string, TensorInput> = {};
  for (const [name, shape] of Object.entries(lmShapes())) {
    const n = shape.reduce((a, b) => a * b, 1);
    out[name] = { dtype: 'F32', shape, data: filled(n, next) };
  }
  return out;
}

/** A model folder: config.json + model.safetensors, optionally altered. */
export function writeLm(
  dir: string,
  opts: { config?: unknown; tensors?: Record<string, TensorInput>; raw?: Uint8Array } = {},
): string {
  fs.mkdirSync(dir, { recursive: true });
  const config = 'config' in opts ? opts.config : lmConfigJson();
  fs.writeFileSync(
    path.join(dir, 'config.json'),
    typeof config === 'string' ? config : JSON.stringify(config),
  );
  fs.writeFileSync(
    path.join(dir, 'model.safetensors'),
    opts.raw ?? encodeSafetensors(opts.tensors ?? lmTensors()),
  );
  return dir;
}

/** fflayer hooks of the 2-layer model, in order. */
export const FFLAYER_HOOKS = [
  'blocks.0.ln2.hook_normalized',
  'blocks.0.hook_mlp_out',
  'blocks.1.ln2.hook_normalized',
  'blocks.1.hook_mlp_out',
];

export function saeCfg(hook: string, F: number, k: number): Record<string, unknown> {
  return {
    architecture: 'topk',
    d_in: LM.D,
    d_sae: F,
    k,
    hook_name: hook,
    hook_layer: Number(/^blocks\.(\d+)/.exec(hook)?.[1] ?? 0),
    model_name: 'tiny',
    dtype: 'float32',
    device: 'cpu',
    activation_fn_str: 'topk',
    activation_fn_kwargs: { k },
    apply_b_dec_to_input: true,
    normalize_activations: 'none',
    context_size: LM.T,
    prepend_bos: false,
    hook_head_index: null,
  };
}

export function saeTensors(F: number, seed: number): Record<string, TensorInput> {
  const next = rng(seed);
  const D = LM.D;
  return {
    W_enc: { dtype: 'F32', shape: [D, F], data: filled(D * F, next) },
    b_enc: { dtype: 'F32', shape: [F], data: filled(F, next, 0.01) },
    W_dec: { dtype: 'F32', shape: [F, D], data: filled(F * D, next) },
    b_dec: { dtype: 'F32', shape: [D], data: filled(D, next, 0.01) },
  };
}

/** One SAELens folder per fflayer hook (TopK, F latents, k), under `dir`. */
export function writeSaeSet(dir: string, F = 16, k = 4): string {
  FFLAYER_HOOKS.forEach((hook, i) => {
    const d = path.join(dir, hook);
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, 'cfg.json'), JSON.stringify(saeCfg(hook, F, k)));
    fs.writeFileSync(path.join(d, 'sae_weights.safetensors'), encodeSafetensors(saeTensors(F, 10 + i)));
  });
  return dir;
}

/**
 * A tblock staircase of the tiny model as `scalar export` writes it: three positions sliced from one shared
 * dictionary of 3·n latents (position p has n·(p+1)), each with our `scalar` block in cfg.json.
 */
export function writeStaircase(dir: string, n = 4, k = 2): string {
  const D = LM.D;
  const hooks = ['blocks.0.hook_resid_pre', 'blocks.1.hook_resid_pre', 'blocks.1.hook_resid_post'];
  const N = n * hooks.length;
  const next = rng(77);
  const wEnc = filled(D * N, next);
  const wDec = filled(N * D, next);
  hooks.forEach((hook, p) => {
    const w = n * (p + 1);
    const enc = new Float32Array(D * w);
    for (let d = 0; d < D; d++) for (let j = 0; j < w; j++) enc[d * w + j] = wEnc[d * N + j];
    const dec = wDec.slice(0, w * D);
    const folder = path.join(dir, hook);
    fs.mkdirSync(folder, { recursive: true });
    fs.writeFileSync(
      path.join(folder, 'cfg.json'),
      JSON.stringify({
        ...saeCfg(hook, w, k),
        scalar: {
          arch: 'staircase',
          setup: 'tblock',
          run_id: 'x',
          staircase: { name: 'staircase', position: p, chunk: n },
        },
      }),
    );
    fs.writeFileSync(
      path.join(folder, 'sae_weights.safetensors'),
      encodeSafetensors({
        W_enc: { dtype: 'F32', shape: [D, w], data: enc },
        b_enc: { dtype: 'F32', shape: [w], data: filled(w, next, 0.01) },
        W_dec: { dtype: 'F32', shape: [w, D], data: dec },
        b_dec: { dtype: 'F32', shape: [D], data: filled(D, next, 0.01) },
      }),
    );
  });
  return dir;
}

/** A safetensors file's header as an object, and a way to write a file with an altered header. */
export function headerOf(bytes: Uint8Array): { header: Record<string, unknown>; data: Uint8Array } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8'));
  return { header, data: bytes.subarray(8 + n) };
}

export function withHeader(headerText: string | Uint8Array, data: Uint8Array, declared?: bigint): Uint8Array {
  const h = typeof headerText === 'string' ? Buffer.from(headerText, 'utf8') : Buffer.from(headerText);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declared ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

/** Every file under `dir` with its size (the SQLite files aside: rows are compared through the database). */
export function listFiles(dir: string, rel = ''): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (!rel && /^scalar\.db(-wal|-shm|-journal)?$/.test(e.name)) return [];
      const p = path.join(dir, e.name);
      return e.isDirectory() ? [`${r}/`, ...listFiles(p, r)] : [`${r} ${fs.statSync(p).size}`];
    })
    .sort();
}

/** Row counts of every table and the data dir's files: equal before and after means the refusal left no trace. */
export function snapshot(store: Store): { rows: Record<string, number>; files: string[] } {
  const tables = (
    store.db
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
      .all() as {
      name: string;
    }[]
  ).map((t) => t.name);
  const rows: Record<string, number> = {};
  for (const t of tables.sort())
    rows[t] = (store.db.prepare(`SELECT COUNT(*) AS n FROM "${t}"`).get() as { n: number }).n;
  return { rows, files: listFiles(store.dataDir) };
}

/** What no message a user sees may contain: a stack frame, raw JSON, a zod dump, a JavaScript TypeError. */
export function expectReadable(message: string): void {
  if (/\n\s+at .+:\d+:\d+/.test(message)) throw new Error(`a stack trace reached the user: ${message}`);
  if (/^\s*[[{]/.test(message)) throw new Error(`raw JSON reached the user: ${message}`);
  if (
    /ZodError|"code":|Invalid input: expected|Cannot read properties|is not a function|undefined \(reading/.test(
      message,
    )
  )
    throw new Error(`an internal message reached the user: ${message}`);
}

/**
 * A completed SAE run (TopK fflayer on the tiny model at `lmDir`) with best checkpoints, seeded straight into
 * the store: `poison` puts a NaN in one checkpoint, `skip` leaves one out, `width`/`k` go into its config only.
 */
export function seedSaeRun(
  store: Store,
  lmDir: string,
  name: string,
  opts: { width?: number; k?: number; poison?: boolean; skip?: string } = {},
): string {
  const width = opts.width ?? 16;
  const run = store.createRun({
    kind: 'sae',
    name,
    config: {
      kind: 'train-sae',
      config: {
        preset: 'quick',
        lm: lmDir,
        arch: 'topk',
        setup: 'fflayer',
        width,
        k: opts.k ?? 4,
        lambda: 16,
        lambdaNorm: 'mean',
        schedule: { steps: 10, batchSize: 2 },
        corpus: 'builtin:brown',
        seed: 0,
        trainFraction: 0.9,
      },
    },
  });
  FFLAYER_HOOKS.forEach((hook, i) => {
    if (hook === opts.skip) return;
    const t = saeTensors(Math.min(width, 16), 40 + i);
    if (opts.poison && i === 1) (t.W_dec.data as Float32Array)[5] = NaN;
    const file = path.join(runArtifactsDir(store.dataDir, run.id), 'best', `${hook}.safetensors`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, encodeSafetensors(t));
  });
  store.startRun(run.id);
  store.finishRun(run.id, { saes: [] });
  return run.id;
}
