/**
 * `scalar reproduce`: for every seed, train the SAEs of the paper's comparisons (and the staircase variants), run
 * SCALAR where the claims need it, then write the claims report (reproduceReport.ts). Each step is an ordinary
 * job. A step whose exact job config already has a completed run in the store (an earlier reproduce or pipeline)
 * reuses it, so a second invocation only computes what is missing; the run records its steps' ids as it goes, so
 * a killed reproduce resumes with `scalar resume` (completed steps kept, interrupted ones resumed).
 */
import os from 'node:os';
import type { JobProgress, JobSpec } from '../../src-shared/jobs.ts';
import { withEvalProtocol } from '../../src-shared/evalProtocol.ts';
import { RUN_KIND_OF_JOB } from '../../src-shared/jobs.ts';
import { CIRCUIT_TARGET_SETUPS, reproduceCells, type ReproduceConfig } from '../../src-shared/reproduce.ts';
import type { ScalarService } from '../api/service.ts';
import type { RunRecord, Store } from '../store/index.ts';
import { readLmConfig } from '../engine/io/lmCheckpoint.ts';
import { resolveLmRef } from './lmRef.ts';
import {
  paperSaeWidth,
  saeKey,
  saeTrainStep,
  scalarEvalStep,
  scalarKey,
  type PipelineStep,
} from './pipelineSteps.ts';
import { writeReproduceReport } from './reproduceReport.ts';

export type ReproduceStep = PipelineStep;
export { saeKey, scalarKey };

/** `width`: the SAEs' latents, 8 × the LM's d_model (`paperSaeWidth`); the schema default when not given. */
export function reproduceSteps(config: ReproduceConfig, width?: number): ReproduceStep[] {
  const source = { ...config, width };
  const out: ReproduceStep[] = [];
  // Seed-major: an interrupted reproduction has whole seeds done, which the report can already use.
  for (let s = 0; s < config.seeds; s++) {
    const seed = config.seed + s;
    for (const { setup, arch, scalar } of reproduceCells(config)) {
      out.push(saeTrainStep(source, setup, arch, seed));
      if (scalar) out.push(scalarEvalStep(source, setup, arch, seed));
      if (scalar && CIRCUIT_TARGET_SETUPS.includes(setup))
        out.push(scalarEvalStep(source, setup, arch, seed, 'circuit'));
    }
  }
  return out;
}

/** JSON with object keys sorted, so two equal configs compare equal whatever order they were written in. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

/**
 * The newest completed run of exactly this job (kind and config), if the store has one. Compared as the job
 * manager stores a submission (with the evaluation protocol filled in), so runs trained by any route match.
 */
export function findCompleted(store: Store, spec: JobSpec): RunRecord | undefined {
  const want = canonical(withEvalProtocol(spec));
  return store
    .listRuns({ kind: RUN_KIND_OF_JOB[spec.kind], status: 'completed' })
    .find((r) => canonical(r.config) === want);
}

/** An unfinished reproduce run of exactly this config (what a second invocation resumes), if any. */
export function findUnfinished(store: Store, config: ReproduceConfig): RunRecord | undefined {
  const want = canonical(config);
  return store
    .listRuns({ kind: 'reproduce', status: ['failed', 'cancelled', 'interrupted'] })
    .find((r) => canonical(r.config) === want);
}

export interface ReproduceHooks {
  onStep?: (runId: string, index: number, total: number, key: string, reused: boolean) => void;
  onStart?: (run: RunRecord) => void;
  onProgress?: (runId: string, progress: JobProgress) => void;
}

export async function runReproduce(
  service: ScalarService,
  config: ReproduceConfig,
  opts: { resume?: string; name?: string; acceptChangedInputs?: boolean } & ReproduceHooks = {},
): Promise<RunRecord> {
  const store = service.store;
  let run = opts.resume
    ? store.requireRun(opts.resume)
    : store.createRun({
        kind: 'reproduce',
        name: opts.name ?? `reproduce ${config.preset} ×${config.seeds}`,
        config,
        seed: config.seed,
      });
  if (run.status !== 'running')
    run = store.startRun(run.id, { ownerPid: process.pid, ownerHost: os.hostname() });
  opts.onStart?.(run);
  const saved = (run.progress ?? {}) as { children?: Record<string, string>; reused?: string[] };
  const children: Record<string, string> = { ...(saved.children ?? {}) };
  const reused = new Set<string>(saved.reused ?? []);
  const plan = reproduceSteps(config, paperSaeWidth(readLmConfig(resolveLmRef(config.lm, store)).dModel));
  const started = Date.now();
  let computed = 0;
  const progress = (step: number, phase: string) => {
    const elapsed = (Date.now() - started) / 1000;
    // The rate counts computed steps only: reused ones take no time and would make the ETA meaningless.
    const rate = computed > 0 && elapsed > 0 ? computed / elapsed : 0;
    const p: JobProgress = {
      step,
      total: plan.length,
      stepsPerSecond: rate,
      unitsPerSecond: rate,
      unit: 'steps',
      elapsedSeconds: elapsed,
      etaSeconds: rate > 0 ? (plan.length - step) / rate : null,
      values: { reused: reused.size },
      phase,
    };
    store.setProgress(run.id, { ...p, children, reused: [...reused] });
    opts.onProgress?.(run.id, p);
    service.jobs.events.emit('event', { type: 'progress', runId: run.id, progress: p });
  };
  try {
    for (const [index, step] of plan.entries()) {
      const existing = children[step.key] ? store.getRun(children[step.key]) : undefined;
      if (existing?.status === 'completed') continue;
      let child: RunRecord;
      let wasReused = false;
      if (existing && ['failed', 'cancelled', 'interrupted'].includes(existing.status))
        child = service.jobs.resume(existing.id, { acceptChangedInputs: opts.acceptChangedInputs });
      else if (existing) child = existing;
      else {
        const spec = step.spec(children);
        const done = findCompleted(store, spec);
        if (done) {
          child = done;
          wasReused = true;
          reused.add(step.key);
        } else child = service.jobs.submit(spec, { name: step.name, parentId: run.id });
      }
      children[step.key] = child.id;
      progress(index, step.key);
      opts.onStep?.(child.id, index, plan.length, step.key, wasReused);
      if (wasReused) continue;
      const done = await service.jobs.wait(child.id);
      if (done.status !== 'completed')
        throw new Error(
          `step ${step.key} (${child.id}) ${done.status}${done.error ? `: ${done.error}` : ''}`,
        );
      computed++;
    }
    progress(plan.length, 'report');
    const summary = writeReproduceReport(store, run, config, children, reused);
    return store.finishRun(run.id, summary);
  } catch (err) {
    const message = (err as Error).message;
    return message.includes(' cancelled')
      ? store.updateRunStatus(run.id, 'cancelled', { error: message })
      : store.failRun(run.id, err);
  }
}
