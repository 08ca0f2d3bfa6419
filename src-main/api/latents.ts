/**
 * The Api's latent and graph methods (src-shared/latents.ts): latent statistics of SAE runs, labels, edges per
 * latent and top-N edges of SCALAR pairs, latent matching between SAE runs, and the job that computes the
 * statistics — on demand (`latents.compute`) and automatically when an SAE run completes (`autoLatentStats`).
 */
import type { z } from 'zod';
import type { JobEvent } from '../../src-shared/jobs.ts';
import {
  LatentApiMethods,
  LatentStatsConfigSchema,
  type LatentContext,
  type LatentDetail,
} from '../../src-shared/latents.ts';
import { isWithoutWeights, withoutWeightsMessage } from '../../src-shared/bundle.ts';
import { SAE_ARCHS, SAE_SETUPS, type SaeArch, type SaeSetup } from '../../src-shared/sae.ts';
import { decoderSource, readDecoder } from '../engine/analysis/decoders.ts';
import { matchLatents } from '../engine/analysis/matching.ts';
import { tokenText, windowTexts } from '../engine/text/tokenText.ts';
import { depthForHooks, setupPositions } from '../engine/sae/positions.ts';
import type { JobManager } from '../jobs/manager.ts';
import {
  densityHistogram,
  edgeRange,
  getLatentLabel,
  jacobianPairs,
  jacobianPartners,
  jacobianTop,
  labelsOf,
  latentContexts,
  latentEdges,
  latentHistogram,
  latentLogits,
  latentNodes,
  latentSet,
  latentSets,
  latentsRunsOf,
  latentSummary,
  listLatents,
  listMatches,
  matchesOfLatent,
  matchSet,
  recordMatches,
  runArtifactsDir,
  scalarRunsOfSae,
  setLatentLabel,
  storedEdgeCount,
  type RunRecord,
  type Store,
} from '../store/index.ts';

type Methods = typeof LatentApiMethods;
type LatentMethod = keyof Methods;
type Params<M extends LatentMethod> = z.infer<Methods[M]['params']>;
type Result<M extends LatentMethod> = z.infer<Methods[M]['result']>;

export interface LatentServiceDeps {
  readonly store: Store;
  readonly jobs: JobManager;
}

// ---------------------------------------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------------------------------------

interface SaeInfo {
  run: RunRecord;
  arch: SaeArch;
  setup: SaeSetup;
  width: number;
  /** Hooks in forward order, from the run's summary. */
  hooks: string[];
  /** The blocks the run trained (absent: every block) and a model depth that names its hooks. */
  layers?: number[];
  nLayer: number;
  corpus?: string;
  trainFraction?: number;
}

/** An SAE run (a latents run stands for the SAE run it describes). */
function saeInfo(store: Store, id: string): SaeInfo {
  let run = store.requireRun(id);
  if (run.kind === 'latents' && run.parentId) run = store.requireRun(run.parentId);
  if (run.kind !== 'sae') throw new Error(`run ${id} is a ${run.kind} run, not an SAE run`);
  const c = ((run.config as { config?: Record<string, unknown> } | null)?.config ?? {}) as Record<
    string,
    unknown
  >;
  const arch = c.arch as SaeArch;
  const setup = c.setup as SaeSetup;
  if (!SAE_ARCHS.includes(arch) || !SAE_SETUPS.includes(setup))
    throw new Error(`run ${run.id} has no SAE architecture and setup in its config`);
  const saes = ((run.summary as { saes?: { hook?: string }[] } | null)?.saes ?? []).map((s) =>
    String(s.hook),
  );
  if (run.status !== 'completed' || saes.length === 0)
    throw new Error(`SAE run ${run.id} is ${run.status}; latents are available once it completed`);
  const layers = Array.isArray(c.layers) ? (c.layers as number[]) : undefined;
  return {
    run,
    arch,
    setup,
    width: Number(c.width),
    hooks: saes,
    layers,
    nLayer: depthForHooks(setup, saes, layers),
    corpus: typeof c.corpus === 'string' ? c.corpus : undefined,
    trainFraction: typeof c.trainFraction === 'number' ? c.trainFraction : undefined,
  };
}

function requireHook(sae: SaeInfo, hook: string): void {
  if (!sae.hooks.includes(hook))
    throw new Error(`SAE run ${sae.run.id} has no SAE at ${hook} (hooks: ${sae.hooks.join(', ')})`);
}

/** The completed latents run whose rows describe this SAE run, or a clear error saying what to do. */
function statsRunOf(store: Store, saeRunId: string): string {
  const { newest, completed } = latentsRunsOf(store.db, saeRunId);
  if (completed) return completed;
  if (newest && (newest.status === 'queued' || newest.status === 'running'))
    throw new Error(
      `latent statistics of ${saeRunId} are being computed (run ${newest.id} is ${newest.status})`,
    );
  throw new Error(
    `no latent statistics for SAE run ${saeRunId} yet` +
      (newest ? ` (the last attempt, ${newest.id}, is ${newest.status})` : '') +
      ': compute them with latents.compute',
  );
}

interface PairInfo {
  scalar: RunRecord;
  sae: string;
  pair: string;
  up: string;
  down: string;
  f0: number | null;
  f1: number | null;
}

/** A SCALAR run's pair: its SAE run and hooks (from the run's summary, else from the SAE run). */
function pairInfo(store: Store, scalarRunId: string, pair: string): PairInfo {
  const scalar = store.requireRun(scalarRunId);
  if (scalar.kind !== 'scalar')
    throw new Error(`run ${scalarRunId} is a ${scalar.kind} run, not a SCALAR run`);
  const sae = (scalar.config as { config?: { sae?: string } } | null)?.config?.sae;
  if (!sae) throw new Error(`SCALAR run ${scalarRunId} names no SAE run`);
  const pairs =
    (
      scalar.summary as {
        eval_result_metrics?: {
          pairs?: { label?: string; up?: string; down?: string; f0?: number; f1?: number }[];
        };
      } | null
    )?.eval_result_metrics?.pairs ?? [];
  const p = pairs.find((x) => x.label === pair);
  if (p?.up && p.down)
    return { scalar, sae, pair, up: p.up, down: p.down, f0: p.f0 ?? null, f1: p.f1 ?? null };
  const info = saeInfo(store, sae);
  const m = /^(tblock|fflayer|ffblock):(\d+)$/.exec(pair);
  const l = m ? Number(m[2]) : -1;
  const found =
    m &&
    m[1] === info.setup &&
    setupPositions(info.setup, info.nLayer, info.layers).pairs.find((q) => q.index === l);
  if (!found) throw new Error(`SCALAR run ${scalarRunId} has no pair ${pair}`);
  return { scalar, sae, pair, up: found.up, down: found.down, f0: null, f1: null };
}

const fullEdges = (p: PairInfo) => (p.f0 !== null && p.f1 !== null ? p.f0 * p.f1 : null);

// ---------------------------------------------------------------------------------------------------------
// The job
// ---------------------------------------------------------------------------------------------------------

/**
 * Queues the latent-stats job of an SAE run unless one is queued or running (or, without `force`, completed);
 * the evaluation text defaults to the SAE run's own corpus.
 */
export function submitLatentStats(
  deps: LatentServiceDeps,
  saeRunId: string,
  opts: { force?: boolean; config?: Record<string, unknown> } = {},
): { id: string; status: string; created: boolean } {
  const sae = saeInfo(deps.store, saeRunId);
  const { newest, completed } = latentsRunsOf(deps.store.db, sae.run.id);
  if (isWithoutWeights(sae.run) && (opts.force || !completed))
    throw new Error(withoutWeightsMessage(sae.run, 'its latent statistics cannot be computed here'));
  if (newest && (newest.status === 'queued' || newest.status === 'running'))
    return { id: newest.id, status: newest.status, created: false };
  if (completed && !opts.force) return { id: completed, status: 'completed', created: false };
  const { spec, name } = latentStatsSpec(deps.store, saeRunId, opts.config);
  const run = deps.jobs.submit(spec, { name });
  return { id: run.id, status: run.status, created: true };
}

/** The latent-stats job of an SAE run (the CLI's `scalar latent-stats` runs it in the foreground). */
export function latentStatsSpec(
  store: Store,
  saeRunId: string,
  config: Record<string, unknown> = {},
): { spec: { kind: 'latent-stats'; config: z.infer<typeof LatentStatsConfigSchema> }; name: string } {
  const sae = saeInfo(store, saeRunId);
  const parsed = LatentStatsConfigSchema.parse({
    ...(sae.corpus ? { corpus: sae.corpus } : {}),
    ...(sae.trainFraction ? { trainFraction: sae.trainFraction } : {}),
    ...config,
    sae: sae.run.id,
  });
  return { spec: { kind: 'latent-stats', config: parsed }, name: `latents ${sae.run.name || sae.run.id}` };
}

/**
 * After an SAE run (trained or imported) completes, queue its latent statistics: always where this process
 * owns the queue (the app, web mode), and for a pipeline's SAE steps (a CLI pipeline waits for its steps, so the
 * statistics finish before the process does). A plain CLI `train-sae` exits when its run is done, so it queues
 * nothing; `latents.compute` (or the app's button) computes them later.
 */
export function autoLatentStats(deps: LatentServiceDeps, e: JobEvent, ownsQueue: boolean): void {
  if (e.type !== 'status' || e.status !== 'completed') return;
  const run = deps.store.getRun(e.runId);
  if (!run || run.kind !== 'sae') return;
  const inPipeline = run.parentId !== null && deps.store.getRun(run.parentId)?.kind === 'pipeline';
  if (!ownsQueue && !inPipeline) return;
  try {
    if (latentsRunsOf(deps.store.db, run.id).newest) return;
    submitLatentStats(deps, run.id);
  } catch (err) {
    deps.jobs.events.emit('event', {
      type: 'log',
      runId: run.id,
      message: `latent statistics were not queued: ${(err as Error).message}`,
    });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------------------

function context(
  c: { seq: number; pos: number; start: number; act: number; ids: number[]; acts: number[] },
  tokenizer: string,
): LatentContext {
  return {
    seq: c.seq,
    pos: c.pos,
    act: c.act,
    center: c.pos - c.start,
    ids: c.ids,
    tokens: windowTexts(c.ids, tokenizer),
    acts: c.acts,
  };
}

function latentDetail(store: Store, p: Params<'latents.get'>): LatentDetail {
  const sae = saeInfo(store, p.run);
  requireHook(sae, p.hook);
  const statsRun = statsRunOf(store, sae.run.id);
  const set = latentSet(store.db, statsRun, p.hook);
  if (!set) throw new Error(`latents run ${statsRun} has no statistics for ${p.hook}`);
  if (p.id >= set.width)
    throw new Error(`${p.hook} has ${set.width} latents (0–${set.width - 1}); no latent ${p.id}`);
  const s = latentSummary(store.db, statsRun, sae.run.id, p.hook, p.id)!;
  const counts = latentHistogram(store.db, statsRun, p.hook, p.id, set.edges.length - 1);
  const contexts = latentContexts(store.db, statsRun, p.hook, p.id);
  const quantiles = new Map<number, { bucket: number; lo: number; hi: number; contexts: LatentContext[] }>();
  for (const c of contexts.filter((x) => x.kind === 'quantile')) {
    const b = c.bucket ?? 0;
    if (!quantiles.has(b))
      quantiles.set(b, { bucket: b, lo: c.bucketLo ?? c.act, hi: c.bucketHi ?? c.act, contexts: [] });
    quantiles.get(b)!.contexts.push(context(c, set.tokenizer));
  }
  const jacobian: LatentDetail['jacobian'] = [];
  for (const jp of jacobianPairs(store.db, statsRun)) {
    for (const direction of ['down', 'up'] as const) {
      if ((direction === 'down' ? jp.up : jp.down) !== p.hook) continue;
      const partnerHook = direction === 'down' ? jp.down : jp.up;
      const entries = jacobianPartners(store.db, statsRun, jp.pair, p.id, direction, 16);
      const labels = labelsOf(
        store.db,
        sae.run.id,
        partnerHook,
        entries.map((x) => x.latent),
      );
      jacobian.push({
        pair: jp.pair,
        direction,
        partnerHook,
        entries: entries.map((x) => ({ ...x, label: labels.get(x.latent) ?? null })),
      });
    }
  }
  const scalarRuns = scalarRunsOfSae(store.db, sae.run.id).map((r) => {
    const pairs =
      (
        r.summary as {
          eval_result_metrics?: { pairs?: { label?: string; up?: string; down?: string }[] };
        } | null
      )?.eval_result_metrics?.pairs ?? [];
    return {
      id: r.id,
      name: r.name,
      pairs: pairs.flatMap((x): { pair: string; direction: 'up' | 'down'; partnerHook: string }[] =>
        x.label && x.up === p.hook
          ? [{ pair: x.label, direction: 'down', partnerHook: String(x.down) }]
          : x.label && x.down === p.hook
            ? [{ pair: x.label, direction: 'up', partnerHook: String(x.up) }]
            : [],
      ),
    };
  });
  const effects = set.logitEffects ? latentLogits(store.db, statsRun, p.hook, p.id) : { top: [], bottom: [] };
  const withText = (xs: { id: number; value: number }[]) =>
    xs.map((x) => ({ id: x.id, token: tokenText(x.id, set.tokenizer), value: x.value }));
  const logits = { top: withText(effects.top), bottom: withText(effects.bottom) };
  return {
    run: sae.run.id,
    statsRun,
    hook: p.hook,
    id: p.id,
    width: set.width,
    position: set.position,
    stats: {
      count: s.count,
      tokens: set.tokens,
      freq: s.freq,
      meanAct: s.meanAct,
      maxAct: s.maxAct,
      dead: s.dead,
      dense: s.dense,
      chunk: s.chunk,
      topTokens: s.topTokens,
    },
    label: getLatentLabel(store.db, sae.run.id, p.hook, p.id),
    histogram: { edges: set.edges.slice(1, -1), counts },
    topContexts: contexts.filter((c) => c.kind === 'top').map((c) => context(c, set.tokenizer)),
    quantiles: [...quantiles.values()].sort((a, b) => a.bucket - b.bucket),
    logits: { available: set.logitEffects, note: set.logitNote, ...logits },
    jacobian,
    matches: matchesOfLatent(store.db, sae.run.id, p.hook, p.id),
    scalarRuns,
  };
}

/** Matches of A with B at a hook: stored, or computed now from the two best checkpoints' decoders and stored. */
function matches(store: Store, p: Params<'latents.matches'>): Result<'latents.matches'> {
  if (p.runA === p.runB) throw new Error('matching a run with itself: give two different SAE runs');
  const a = saeInfo(store, p.runA);
  const b = saeInfo(store, p.runB);
  requireHook(a, p.hook);
  requireHook(b, p.hook);
  let set = matchSet(store.db, a.run.id, b.run.id, p.hook);
  if (!set) {
    for (const s of [a, b])
      if (isWithoutWeights(s.run))
        throw new Error(
          withoutWeightsMessage(s.run, 'its latents cannot be matched (that reads its decoder)'),
        );
    const decA = readDecoder(runArtifactsDir(store.dataDir, a.run.id), decoderSource(a, p.hook, a.nLayer));
    const decB = readDecoder(runArtifactsDir(store.dataDir, b.run.id), decoderSource(b, p.hook, b.nLayer));
    if (decA.D !== decB.D)
      throw new Error(`the two SAEs read different widths of ${p.hook} (${decA.D} vs ${decB.D})`);
    const r = matchLatents(decA.data, decA.rows, decB.data, decB.rows, decA.D);
    recordMatches(
      store.db,
      {
        runA: a.run.id,
        runB: b.run.id,
        hook: p.hook,
        method: r.method,
        widthA: r.widthA,
        widthB: r.widthB,
        matched: r.a.length,
        meanCos: r.meanCos,
      },
      r,
    );
    set = matchSet(store.db, a.run.id, b.run.id, p.hook)!;
  }
  const page = listMatches(store.db, a.run.id, b.run.id, p.hook, p);
  return {
    runA: a.run.id,
    runB: b.run.id,
    hook: p.hook,
    method: set.method,
    widthA: set.widthA,
    widthB: set.widthB,
    matched: set.matched,
    meanCos: set.meanCos,
    total: page.total,
    offset: p.offset,
    rows: page.rows,
  };
}

function graphSide(store: Store, saeRun: string, hook: string, ids: number[]) {
  const stats = latentsRunsOf(store.db, saeRun).completed;
  const nodes = latentNodes(store.db, stats, saeRun, hook, ids);
  const width = stats ? (latentSet(store.db, stats, hook)?.width ?? null) : null;
  return { run: saeRun, hook, width, nodes: ids.map((id) => ({ id, ...nodes.get(id)! })) };
}

export function latentHandlers(deps: LatentServiceDeps): {
  [M in LatentMethod]: (p: Params<M>) => Result<M>;
} {
  return {
    'latents.compute': (p) => submitLatentStats(deps, p.run, { force: p.force, config: p.config }),
    'latents.hooks': (p) => {
      const { store } = deps;
      const sae = saeInfo(store, p.run);
      const { newest, completed } = latentsRunsOf(store.db, sae.run.id);
      const sets = completed ? latentSets(store.db, completed) : [];
      const order = (h: string) => sae.hooks.indexOf(h);
      return {
        run: sae.run.id,
        arch: sae.arch,
        setup: sae.setup,
        statsRun: newest,
        hooks: sets
          .sort((x, y) => order(x.hook) - order(y.hook))
          .map((s) => ({
            hook: s.hook,
            width: s.width,
            chunk: s.chunk,
            position: s.position,
            tokens: s.tokens,
            dead: s.dead,
            dense: s.dense,
            logitEffects: s.logitEffects,
            logitNote: s.logitNote,
            density: densityHistogram(store.db, completed!, s.hook),
          })),
        jacobianPairs: completed
          ? jacobianPairs(store.db, completed).map(({ pair, up, down }) => ({ pair, up, down }))
          : [],
        withoutWeights: isWithoutWeights(sae.run)
          ? withoutWeightsMessage(sae.run, 'its latent statistics cannot be computed here')
          : null,
      };
    },
    'latents.list': (p) => {
      const sae = saeInfo(deps.store, p.run);
      requireHook(sae, p.hook);
      const stats = statsRunOf(deps.store, sae.run.id);
      const page = listLatents(deps.store.db, stats, sae.run.id, p.hook, p);
      return { total: page.total, offset: p.offset, rows: page.rows };
    },
    'latents.get': (p) => latentDetail(deps.store, p),
    'latents.edges': (p) => {
      const { store } = deps;
      const info = pairInfo(store, p.run, p.pair);
      const partnerHook = p.direction === 'up' ? info.up : info.down;
      const page = latentEdges(store.db, info.scalar.id, p.pair, p.latent, p.direction, p.offset, p.limit);
      const stats = latentsRunsOf(store.db, info.sae).completed;
      const nodes = latentNodes(
        store.db,
        stats,
        info.sae,
        partnerHook,
        page.rows.map((r) => r.partner),
      );
      return {
        pair: p.pair,
        partnerRun: info.sae,
        partnerHook,
        total: page.total,
        offset: p.offset,
        rows: page.rows.map((r, x) => ({
          latent: r.partner,
          score: r.score,
          rank: r.rank,
          localRank: p.offset + x,
          freq: nodes.get(r.partner)!.freq,
          label: nodes.get(r.partner)!.label,
        })),
        storedEdges: storedEdgeCount(store.db, info.scalar.id, p.pair),
        fullEdges: fullEdges(info),
      };
    },
    'latents.label': (p) => {
      const sae = saeInfo(deps.store, p.run);
      requireHook(sae, p.hook);
      const rows = decoderSource(sae, p.hook, sae.nLayer).rows;
      if (p.id >= rows) throw new Error(`${p.hook} has ${rows} latents (0–${rows - 1}); no latent ${p.id}`);
      return setLatentLabel(deps.store.db, sae.run.id, p.hook, p.id, p.text, p.note);
    },
    'latents.matches': (p) => matches(deps.store, p),
    'graph.edges': (p) => {
      const { store } = deps;
      const info = pairInfo(store, p.run, p.pair);
      const edges = edgeRange(store.db, info.scalar.id, p.pair, p.offset, p.n);
      const ups = p.nodes ? [...new Set(edges.i)].sort((x, y) => x - y) : [];
      const downs = p.nodes ? [...new Set(edges.j)].sort((x, y) => x - y) : [];
      return {
        pair: p.pair,
        offset: p.offset,
        edges,
        storedEdges: storedEdgeCount(store.db, info.scalar.id, p.pair),
        fullEdges: fullEdges(info),
        up: graphSide(store, info.sae, info.up, ups),
        down: graphSide(store, info.sae, info.down, downs),
      };
    },
    'graph.curve': (p) => {
      const { store } = deps;
      const info = pairInfo(store, p.run, p.pair);
      const curves = store.getScalarCurves(info.scalar.id).filter((c) => c.pair === p.pair);
      const curve = p.target ? curves.find((c) => c.target === p.target) : curves[0];
      if (!curve)
        throw new Error(`SCALAR run ${p.run} has no ${p.target ? `'${p.target}' ` : ''}curve for ${p.pair}`);
      return {
        pair: p.pair,
        target: curve.target,
        points: curve.points,
        storedEdges: storedEdgeCount(store.db, info.scalar.id, p.pair),
        fullEdges: fullEdges(info),
        up: info.up,
        down: info.down,
      };
    },
    'graph.jacobian': (p) => {
      const { store } = deps;
      const sae = saeInfo(store, p.run);
      const stats = statsRunOf(store, sae.run.id);
      const jp = jacobianPairs(store.db, stats).find((x) => x.pair === p.pair);
      if (!jp) throw new Error(`no Jacobian entries for ${p.pair} (only JSAE runs have them)`);
      return { pair: jp.pair, up: jp.up, down: jp.down, entries: jacobianTop(store.db, stats, p.pair, p.n) };
    },
  };
}
