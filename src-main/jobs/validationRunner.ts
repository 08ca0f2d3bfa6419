/**
 * The `validate-ranking` job inside a worker (issue 15): runs the planted-circuit validation, posts progress
 * (one step per attribution and per curve), writes report.json and report.md into the run folder as
 * artifacts, records each condition's default-method recovery as metrics, and returns the whole report as the
 * run summary (the app's validation view reads it from there). Cancel: checked between steps. Resume starts
 * over (the quick preset takes minutes).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { JobSpec } from '../../src-shared/jobs.ts';
import { DEFAULT_METHOD_ID } from '../../src-shared/validation.ts';
import { reportMarkdown } from '../engine/validation/report.ts';
import { validateRanking } from '../engine/validation/validate.ts';
import { progressMessage, throttled, type JobContext } from './runners.ts';

export async function runValidateRanking(
  spec: Extract<JobSpec, { kind: 'validate-ranking' }>,
  ctx: JobContext,
): Promise<Record<string, unknown>> {
  const due = throttled(250);
  const report = await validateRanking({
    config: spec.config,
    signal: ctx.signal,
    onProgress: (p) => {
      if (!due(p.step === p.total)) return;
      const msg = progressMessage(p, {});
      if (msg.type === 'progress') {
        msg.progress.phase = p.phase;
        msg.progress.unit = 'steps';
      }
      ctx.post(msg);
    },
  });
  fs.writeFileSync(path.join(ctx.runDir, 'report.json'), JSON.stringify(report));
  fs.writeFileSync(path.join(ctx.runDir, 'report.md'), reportMarkdown(report));
  ctx.post({ type: 'artifact', kind: 'report', name: 'report.json' });
  ctx.post({ type: 'artifact', kind: 'report', name: 'report.md' });
  // Store rows per condition (scope = condition id) for the default method over both segment kinds.
  for (const s of report.summary)
    if (s.segment === 'all' && s.method === DEFAULT_METHOD_ID) {
      const values = {
        precision: s.mean.precision,
        auroc: s.mean.auroc,
        spearman: s.mean.spearman,
        curve_ratio: s.mean.curveRatio,
      };
      const finite = Object.fromEntries(Object.entries(values).filter(([, v]) => Number.isFinite(v)));
      ctx.post({ type: 'metrics', step: 0, scope: s.condition, values: finite });
    }
  return { ...report };
}
