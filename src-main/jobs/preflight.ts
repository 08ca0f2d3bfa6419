/**
 * The one validation path of a job's inputs, run by JobManager.submit before the run row and its folder exist
 * (so the CLI, the Api and the UI all get it): everything that can be known before the job runs is checked
 * here, and a refusal leaves the store exactly as it was.
 *
 *   files      the corpus (readable UTF-8 text, not too large, long enough for one window per split), the
 *              language model (config.json values, every tensor's name, dtype and shape, finite weights), SAELens
 *              folders (cfg.json values, weights header, shapes, dtypes, finite weights, staircase slices,
 *              JumpReLU / gated SAEs refused by name), an SAE run's checkpoints (present, readable, finite)
 *   options    ranges and combinations the schema cannot see (window length ≤ the LM context, pairs that exist,
 *              k ≤ the SAE's width for a stored run)
 *   memory     a lower bound of what one step needs against what this machine (and backend) can address
 *
 * The result pins every file the job will read from outside its own folder (sha256, size): resume refuses to
 * continue on a changed file (JobManager.resume), and warnings that did not stop the job (e.g. replaced
 * invalid UTF-8 bytes) are reported to the user.
 */
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import type { GptConfig } from '../../src-shared/lm.ts';
import type { JobSpec } from '../../src-shared/jobs.ts';
import type { PipelineConfig } from '../../src-shared/pipeline.ts';
import { SAE_ARCHS, SAE_SETUPS, type SaeSetup } from '../../src-shared/sae.ts';
import { CONFIG_FILE, readLmTokenizer, readLmWeights } from '../engine/io/lmCheckpoint.ts';
import { readSafetensorsFile } from '../engine/io/safetensors.ts';
import { SAE_CFG_FILE, SAE_WEIGHTS_FILE } from '../engine/io/saelens.ts';
import { checkSaeLensSet, inspectSaeLensSet } from '../engine/io/saelensImport.ts';
import { saeWidths, setupPositions } from '../engine/sae/positions.ts';
import { BEST_DIR } from '../engine/sae/checkpoint.ts';
import {
  assertSplitsFitContext,
  BUILTIN_CORPORA,
  loadCorpus,
  minTokensForContext,
  trainLength,
  type Tokenizer,
  type TrainValSplit,
} from '../engine/text/index.ts';
import { fileIdentity, runArtifactsDir, type NewRunInputRow, type Store } from '../store/index.ts';
import { InputError } from '../userErrors.ts';
import { isWithoutWeights, withoutWeightsMessage } from '../../src-shared/bundle.ts';
import { resolveLmRef } from './lmRef.ts';
import { checkStreamedInputs, refuseUnstreamedTextSet } from './preflightStream.ts';

export { InputError };

export interface PreflightResult {
  /** Every file the job reads from outside its run folder, with its identity now. */
  inputs: NewRunInputRow[];
  /** Things the user should know that did not stop the job. */
  warnings: string[];
}

export interface PreflightOptions {
  /** Forced compute backend (else SCALAR_BACKEND / the ladder). */
  backend?: string;
  /** Memory this machine offers (tests); default os.totalmem(). */
  totalMemory?: number;
}

interface Ctx {
  store: Store;
  options: PreflightOptions;
  inputs: Map<string, NewRunInputRow>;
  warnings: string[];
  lms: Map<string, GptConfig>;
  /** The tokenizer of the job's language model (the corpus is counted in its tokens); none: characters. */
  tokenizer?: Tokenizer;
}

const GiB = 1024 ** 3;
/** What one wasm instance (one thread's tfjs-wasm) can address. */
const WASM_MEMORY = 4 * GiB;
const F32 = 4;

/** Runs `fn`, turning any error into an InputError with `prefix` (the input it concerns) in front. */
function about<T>(prefix: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`${prefix}${(err as Error).message}`);
  }
}

function pin(ctx: Ctx, role: string, file: string, note?: string): void {
  const p = path.resolve(file);
  const prior = ctx.inputs.get(p);
  if (prior) {
    if (note) prior.note = [prior.note, note].filter(Boolean).join('; ');
    return;
  }
  ctx.inputs.set(p, { path: p, role, ...fileIdentity(p), note: note ?? null });
}

/** Checks every input of `spec`; throws InputError naming the first problem. */
export function preflightJob(spec: JobSpec, store: Store, options: PreflightOptions = {}): PreflightResult {
  const ctx: Ctx = { store, options, inputs: new Map(), warnings: [], lms: new Map() };
  switch (spec.kind) {
    case 'train-lm':
      checkTrainLm(ctx, spec.config);
      break;
    case 'train-sae':
      checkTrainSae(ctx, spec.config);
      break;
    case 'import-sae':
      checkImportSae(ctx, spec.config);
      break;
    case 'scalar':
      checkScalar(ctx, spec.config);
      break;
    case 'latent-stats':
      checkLatentStats(ctx, spec.config);
      break;
    case 'validate-ranking':
      break; // no inputs: it builds its planted circuits from the seed
  }
  return { inputs: [...ctx.inputs.values()], warnings: ctx.warnings };
}

/** A pipeline's inputs (its language model and corpus) before its run exists; its steps are checked as they start. */
export function preflightPipeline(
  config: PipelineConfig,
  store: Store,
  options: PreflightOptions = {},
): void {
  const ctx: Ctx = { store, options, inputs: new Map(), warnings: [], lms: new Map() };
  const lm = checkLm(ctx, config.lm);
  checkCorpus(ctx, config.corpus, lm.contextLength, 0.9);
}

// --- inputs -------------------------------------------------------------------------------------------------

/**
 * A corpus spec: a built-in name, or a file that is readable UTF-8 text of a sane size, long enough for one
 * window of `seqLen` + 1 tokens in each split. Replaced invalid bytes are a warning.
 */
function checkCorpus(ctx: Ctx, spec: string, seqLen: number, trainFraction: number): void {
  const trimmed = spec.trim();
  if (trimmed.startsWith('builtin:')) {
    if (!(BUILTIN_CORPORA as readonly string[]).includes(trimmed))
      throw new InputError(`Unknown built-in corpus "${trimmed}"; available: ${BUILTIN_CORPORA.join(', ')}`);
    return; // the Brown corpus holds millions of characters: every window fits
  }
  const corpus = about('', () => loadCorpus(trimmed));
  let n = corpus.source.chars; // the ASCII tokenizer makes one token of every code point
  // GPT-2 BPE makes fewer tokens than characters: count them when the text may be short (bounded work).
  const bpe = ctx.tokenizer?.name === 'gpt2';
  if (bpe && n < 32 * minTokensForContext(seqLen, trainFraction))
    n = ctx.tokenizer!.encode(corpus.text).length;
  const cut = trainLength(n, trainFraction);
  const split = {
    train: { name: 'train', tokens: { length: cut }, start: 0 },
    val: { name: 'val', tokens: { length: n - cut }, start: cut },
    trainFraction,
  } as unknown as TrainValSplit;
  about('', () =>
    assertSplitsFitContext(split, seqLen, { corpusName: corpus.name, unit: bpe ? 'tokens' : 'characters' }),
  );
  const note = corpus.warnings.join('; ');
  for (const w of corpus.warnings) ctx.warnings.push(`corpus ${corpus.source.path}: ${w}`);
  pin(ctx, 'corpus', corpus.source.path!, note || undefined);
}

/** A language model reference: resolvable, its config.json sane, every tensor present, well-shaped and finite. */
function checkLm(ctx: Ctx, ref: string): GptConfig {
  const known = ctx.lms.get(ref);
  if (known) return known;
  const location = about('', () => resolveLmRef(ref, ctx.store));
  const { config, file } = about(`language model ${ref}: `, () => readLmWeights(location));
  ctx.tokenizer = about(`language model ${ref}: `, () => readLmTokenizer(location)); // BPE needs the full vocabulary
  const dir = location.endsWith('.safetensors') ? path.dirname(location) : location;
  pin(ctx, 'lm', file);
  pin(ctx, 'lm', path.join(dir, CONFIG_FILE));
  ctx.lms.set(ref, config);
  return config;
}

/** The window length a job uses: given (≤ the LM context) or the LM context. */
function windowLength(seqLen: number | undefined, lm: GptConfig): number {
  if (seqLen !== undefined && seqLen > lm.contextLength)
    throw new InputError(
      `option --seq-len must be ≤ the language model's context length ${lm.contextLength} (got ${seqLen})`,
    );
  return seqLen ?? lm.contextLength;
}

/** A completed SAE run: its structure sane, its LM usable, every best checkpoint present, readable and finite. */
function checkSaeRun(
  ctx: Ctx,
  id: string,
): { lm: GptConfig; arch: string; setup: SaeSetup; width: number; k: number; layers?: number[] } {
  const run = ctx.store.getRun(id);
  if (!run) throw new InputError(`no SAE run '${id}' in ${ctx.store.dataDir} (see scalar runs --kind sae)`);
  if (run.kind !== 'sae') throw new InputError(`run ${id} is not an SAE run (it is a ${run.kind} run)`);
  if (run.status !== 'completed')
    throw new InputError(`SAE run ${id} is ${run.status}; only completed SAE runs can be used`);
  if (isWithoutWeights(run))
    throw new InputError(withoutWeightsMessage(run, 'SCALAR and latent statistics cannot run on it here'));
  const c = ((run.config as { config?: Record<string, unknown> } | null)?.config ?? {}) as Record<
    string,
    unknown
  >;
  const arch = String(c.arch);
  const setup = String(c.setup) as SaeSetup;
  const width = Number(c.width);
  const k = Number(c.k);
  if (!(SAE_ARCHS as readonly string[]).includes(arch) || !(SAE_SETUPS as readonly string[]).includes(setup))
    throw new InputError(`SAE run ${id} has no valid architecture and setup in its configuration`);
  if (!(Number.isInteger(width) && width >= 1 && Number.isInteger(k) && k >= 1))
    throw new InputError(`SAE run ${id} has no valid width and k in its configuration`);
  if (k > width)
    throw new InputError(
      `SAE run ${id} keeps k = ${k} latents of SAEs with only ${width}; TopK cannot keep more latents than an SAE has, so it cannot be used`,
    );
  if (typeof c.lm !== 'string')
    throw new InputError(`SAE run ${id} does not say which language model it uses`);
  const lm = checkLm(ctx, c.lm);
  const layers = Array.isArray(c.layers) ? (c.layers as number[]) : undefined;
  const { pairs } = about(`SAE run ${id}: `, () => setupPositions(setup, lm.nLayer, layers));
  const groups =
    arch === 'jsae'
      ? pairs.map((p) => `pair${p.index}`)
      : [...new Set(saeWidths(arch, setup, width, lm.nLayer, layers).map((w) => w.group))];
  const best = path.join(runArtifactsDir(ctx.store.dataDir, id), BEST_DIR);
  for (const g of groups) {
    const file = path.join(best, `${g}.safetensors`);
    if (!fs.existsSync(file))
      throw new InputError(
        `SAE run ${id} has no checkpoint for ${g} (${file} is missing); it cannot be used`,
      );
    const decoded = about(`SAE run ${id}: `, () => readSafetensorsFile(file));
    for (const [name, t] of Object.entries(decoded.tensors)) {
      const data = t.data as ArrayLike<number>;
      for (let i = 0; i < data.length; i++)
        if (!Number.isFinite(data[i]))
          throw new InputError(
            `SAE run ${id}: its checkpoint ${g} holds ${data[i]} in ${name} (index ${i}); SAE weights must all be finite, so it cannot be used`,
          );
    }
    pin(ctx, 'sae', file);
  }
  return { lm, arch, setup, width, k, layers };
}

// --- memory -------------------------------------------------------------------------------------------------

/** Whether jobs will run on wasm (forced, or what this store's recent runs used; a fresh store: the usual rung). */
function onWasm(ctx: Ctx): boolean {
  const forced = (ctx.options.backend ?? process.env.SCALAR_BACKEND ?? '').trim().toLowerCase();
  if (forced) return forced === 'wasm';
  const last = ctx.store.listRuns({ limit: 20 }).find((r) => r.backend)?.backend ?? null;
  return !last || last === 'wasm';
}

function fmtBytes(b: number): string {
  return b >= GiB ? `${(b / GiB).toFixed(1)} GiB` : `${(b / 1024 ** 2).toFixed(0)} MiB`;
}

/**
 * Refuses a step that cannot fit: `perWindow` bytes per window of the batch in all (against this machine's
 * memory), and `perWindowInThread` bytes per window in the busiest thread, which holds `threadWindows` of the
 * `batch` windows (against the 4 GiB one wasm instance addresses). Both are lower bounds: what is refused could
 * never run; the message says how far to lower the option.
 */
function checkMemory(
  ctx: Ctx,
  what: string,
  option: string,
  batch: number,
  m: { perWindow: number; perWindowInThread: number; threadWindows: number },
): void {
  const total = ctx.options.totalMemory ?? os.totalmem();
  const advice = (most: number) =>
    most >= 1
      ? `lower option ${option} (${batch}) to at most about ${most}`
      : 'it cannot run on this machine';
  if (m.perWindow * batch > total)
    throw new InputError(
      `${what} needs at least ${fmtBytes(m.perWindow * batch)} of memory, but this machine has ${fmtBytes(total)}; ` +
        advice(Math.floor(total / m.perWindow)),
    );
  const inThread = m.perWindowInThread * m.threadWindows;
  if (onWasm(ctx) && inThread > WASM_MEMORY)
    throw new InputError(
      `${what} needs at least ${fmtBytes(inThread)} of memory in one thread, but the wasm backend addresses at most 4 GiB per thread; ` +
        advice(Math.floor((WASM_MEMORY / inThread) * batch)),
    );
}

/** Floats of the LM's forward activations per token (a lower bound of what a forward pass holds at once). */
function lmFloatsPerToken(lm: GptConfig, seqLen: number): number {
  return lm.nLayer * (9 * lm.dModel + 2 * lm.dMlp + lm.nHead * seqLen) + lm.vocabSize;
}

// --- jobs ---------------------------------------------------------------------------------------------------

function checkTrainLm(ctx: Ctx, c: Extract<JobSpec, { kind: 'train-lm' }>['config']): void {
  const s = c.schedule;
  if (c.model.dModel % c.model.nHead !== 0)
    throw new InputError(
      `the model's width ${c.model.dModel} must be a multiple of its heads ${c.model.nHead}`,
    );
  checkCorpus(ctx, c.corpus, s.seqLen, c.trainFraction);
  // Forward activations kept for the backward pass, plus the logits' gradient; two threads split the batch.
  const perWindow = F32 * s.seqLen * (lmFloatsPerToken(c.model, s.seqLen) + c.model.vocabSize);
  checkMemory(
    ctx,
    `one training step of ${s.batchSize} windows of ${s.seqLen} tokens`,
    '--batch-size',
    s.batchSize,
    {
      perWindow,
      perWindowInThread: perWindow,
      threadWindows: Math.ceil(s.batchSize / 2),
    },
  );
}

function saeFloatsPerToken(widths: { width: number }[]): number {
  return widths.reduce((a, w) => a + 2 * w.width, 0);
}

function checkTrainSae(ctx: Ctx, c: Extract<JobSpec, { kind: 'train-sae' }>['config']): void {
  const lm = checkLm(ctx, c.lm);
  const seqLen = windowLength(c.schedule.seqLen, lm);
  const widths = about('option --layers: ', () => saeWidths(c.arch, c.setup, c.width, lm.nLayer, c.layers));
  if (!c.stream) {
    refuseUnstreamedTextSet(c.corpus);
    checkCorpus(ctx, c.corpus, seqLen, c.trainFraction);
    // The LM runs on the whole batch here (its activations are then cut into micro-batches).
    saeStepMemory(ctx, lm, seqLen, widths, c.schedule.batchSize, 'one SAE training step');
    return;
  }
  const total = ctx.options.totalMemory ?? os.totalmem();
  const files = checkStreamedInputs(c, lm, widths.length, seqLen, ctx.tokenizer, total);
  for (const f of files) pin(ctx, 'corpus', f);
  // One micro-batch's SAE step and one refill's LM forward.
  const micro = c.schedule.batchSize / (c.schedule.gradAccum ?? 1);
  saeStepMemory(ctx, lm, seqLen, widths, Math.max(micro, c.stream.forwardWindows), 'one SAE training step');
}

/** The frozen LM's forward (possibly on a second thread) and the SAEs' dense pre-activations and gradients. */
function saeStepMemory(
  ctx: Ctx,
  lm: GptConfig,
  seqLen: number,
  widths: { width: number }[],
  B: number,
  what: string,
): void {
  const lmPart = F32 * seqLen * lmFloatsPerToken(lm, seqLen);
  const saePart = F32 * seqLen * saeFloatsPerToken(widths);
  checkMemory(ctx, `${what} of ${B} windows of ${seqLen} tokens`, '--batch-size', B, {
    perWindow: lmPart + saePart,
    perWindowInThread: Math.max(lmPart, saePart),
    threadWindows: B,
  });
}

function checkImportSae(ctx: Ctx, c: Extract<JobSpec, { kind: 'import-sae' }>['config']): void {
  const lm = checkLm(ctx, c.lm);
  const prefix = `cannot import ${c.source}: `;
  const info = about(prefix, () => inspectSaeLensSet(c.source, lm));
  const mismatch = (['arch', 'setup', 'width', 'k'] as const).filter((key) => info[key] !== c[key]);
  if (mismatch.length)
    throw new InputError(
      `${prefix}its folders say ${mismatch.map((m) => `${m} ${info[m]}`).join(', ')}, the request ${mismatch.map((m) => `${m} ${c[m]}`).join(', ')}`,
    );
  about(prefix, () => checkSaeLensSet(info, lm));
  for (const dir of Object.values(info.folders)) {
    pin(ctx, 'sae', path.join(dir, SAE_CFG_FILE));
    pin(ctx, 'sae', path.join(dir, SAE_WEIGHTS_FILE));
  }
  const seqLen = windowLength(c.seqLen, lm);
  checkCorpus(ctx, c.corpus, seqLen, c.trainFraction);
  const widths = saeWidths(c.arch, c.setup, c.width, lm.nLayer);
  saeStepMemory(ctx, lm, seqLen, widths, c.batchSize, 'evaluating the imported SAEs');
}

function checkScalar(ctx: Ctx, c: Extract<JobSpec, { kind: 'scalar' }>['config']): void {
  const sae = checkSaeRun(ctx, c.sae);
  const { pairs } = setupPositions(sae.setup, sae.lm.nLayer, sae.layers);
  const missing = (c.pairs ?? []).filter((p) => !pairs.some((q) => q.index === p));
  const has = sae.layers ? pairs.map((p) => p.index).join(', ') : `0–${pairs.length - 1}`;
  if (missing.length)
    throw new InputError(
      `option --pairs names pair${missing.length > 1 ? 's' : ''} ${missing.join(', ')}, but this ${sae.setup} run has pairs ${has} (got ${c.pairs!.join(',')})`,
    );
  const seqLen = windowLength(c.seqLen, sae.lm);
  checkCorpus(ctx, c.corpus, seqLen, 0.9);
  // Per pair: the summed attribution (float64), the edge scores and the ranking over F₀·F₁ edges.
  const widths = new Map(
    saeWidths(sae.arch, sae.setup, sae.width, sae.lm.nLayer, sae.layers).map((w) => [w.hook, w.width]),
  );
  const D = sae.lm.dModel;
  let need = 0;
  for (const p of pairs.filter((q) => !c.pairs || c.pairs.includes(q.index))) {
    const f0 = widths.get(p.up) ?? sae.width;
    const f1 = widths.get(p.down) ?? sae.width;
    const summed = 8 * (c.scaling === 'textbook' ? f0 * f1 : f1 * D * D);
    need = Math.max(need, summed + 8 * f0 * f1);
  }
  // These are plain typed arrays of the worker thread (not wasm memory): the machine's memory is the limit.
  const total = ctx.options.totalMemory ?? os.totalmem();
  if (need > total)
    throw new InputError(
      `SCALAR on run ${c.sae} needs at least ${fmtBytes(need)} of memory for the edge scores of one pair, but this machine has ${fmtBytes(total)}`,
    );
}

function checkLatentStats(ctx: Ctx, c: Extract<JobSpec, { kind: 'latent-stats' }>['config']): void {
  const sae = checkSaeRun(ctx, c.sae);
  const seqLen = windowLength(c.seqLen, sae.lm);
  checkCorpus(ctx, c.corpus, seqLen, c.trainFraction);
}
