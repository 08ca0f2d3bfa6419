/**
 * `scalar reproduce` over a store: finished runs of exactly a step's job are reused (a second invocation with the
 * same arguments creates no SAE or SCALAR run), only the missing steps are submitted, and an unfinished
 * reproduction resumes its own steps without creating runs. Finished runs are hand-made (compare.helpers: real
 * per-token KL tables, no training); the missing step is a real job, cancelled as soon as it is queued.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ScalarService } from '../../src-main/api/service.ts';
import { main } from '../../src-main/cli/main.ts';
import { exportBundle, importBundle } from '../../src-main/store/bundle.ts';
import { Store } from '../../src-main/store/index.ts';
import { defaultLmRef } from '../../src-main/jobs/lmRef.ts';
import { findUnfinished, runReproduce } from '../../src-main/jobs/reproduce.ts';
import { ReproduceConfigSchema } from '../../src-shared/reproduce.ts';
import type { ReproduceReport } from '../../src-shared/reproduce/report.ts';
import { seedReproductionRuns } from '../unit/reproduce.helpers.ts';

const lm = defaultLmRef()!;
const configOf = (seeds: number) =>
  ReproduceConfigSchema.parse({ preset: 'quick', lm, seeds, setups: ['tblock'], variants: false });

let dir: string;
let service: ScalarService;
const count = (kind: string | string[]) => service.store.listRuns({ kind }).length;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scalar-reproduce-'));
  service = new ScalarService({ dataDir: dir, mode: 'cli', autoLatentStats: false });
});
afterEach(async () => {
  await service.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('scalar reproduce reuses and resumes', () => {
  it('reuses every finished step; a second invocation with the same arguments creates no SAE or SCALAR run', async () => {
    const config = configOf(1);
    seedReproductionRuns(service.store, config, [0]);
    expect(count(['sae', 'scalar'])).toBe(4);

    const first = await runReproduce(service, config);
    expect(first.status).toBe('completed');
    const second = await runReproduce(service, config);
    expect(second.status).toBe('completed');
    expect(count(['sae', 'scalar'])).toBe(4);
    expect(count('reproduce')).toBe(2);

    const report = (second.summary as { reproduction: ReproduceReport }).reproduction;
    expect(report.runs.map((r) => r.reused)).toEqual([true, true, true, true]);
    // Our figure at each pair is (S_TopK − S_Staircase) / S_TopK from the stored areas, computed here.
    const auc = (key: string) =>
      (
        service.store.requireRun(report.runs.find((r) => r.key === key)!.id).summary as {
          eval_result_metrics: { pairs: { scalar_auc_rel: number }[] };
        }
      ).eval_result_metrics.pairs.map((p) => p.scalar_auc_rel);
    const topk = auc('scalar:tblock:topk:0');
    const stair = auc('scalar:tblock:staircase:0');
    const claim = report.claims.find((c) => c.id === 'staircase-rel-every-pair')!;
    claim.tests.forEach((t, p) => {
      expect(t.ours.mean!).toBeCloseTo((100 * (topk[p] - stair[p])) / topk[p], 6);
      expect(t.ours.ciKind).toBe('paired bootstrap (1 seed)');
    });
    // JSAE was not trained (tblock only): said so, not left out.
    expect(report.claims.find((c) => c.id === 'jsae-fflayer-1-2')!.verdict).toBe('not run');

    const out = path.dirname((second.summary as { report: string }).report);
    for (const f of ['report.md', 'report.json', 'figures/reduction-tblock-staircase-rel.png'])
      expect(fs.existsSync(path.join(out, f)), f).toBe(true);
  });

  it('submits only the missing steps, and an unfinished reproduction resumes them without new runs', async () => {
    const config = configOf(2);
    seedReproductionRuns(service.store, config, [0]);
    const submitted: string[] = [];
    // Cancel each computed step as soon as it is queued: what matters here is which steps get a job.
    const onStep = (id: string, _i: number, _n: number, key: string, reused: boolean) => {
      if (reused) return;
      submitted.push(key);
      service.jobs.cancel(id);
    };
    const first = await runReproduce(service, config, { onStep });
    expect(first.status).toBe('cancelled');
    expect(submitted).toEqual(['sae:tblock:topk:1']);
    expect(count('sae')).toBe(3);

    const unfinished = findUnfinished(service.store, config);
    expect(unfinished?.id).toBe(first.id);
    const before = count(['sae', 'scalar', 'reproduce']);
    const again = await runReproduce(service, config, { resume: first.id, onStep });
    expect(again.id).toBe(first.id);
    expect(submitted).toEqual(['sae:tblock:topk:1', 'sae:tblock:topk:1']);
    expect(count(['sae', 'scalar', 'reproduce'])).toBe(before);
  }, 120_000);

  it('reproduce.start refuses a missing LM or an unknown setup before a run exists', async () => {
    await expect(
      service.call('reproduce.start', { config: { preset: 'quick', lm: path.join(dir, 'no-lm') } } as never),
    ).rejects.toThrow(/cannot find language model/);
    await expect(
      service.call('reproduce.start', { config: { preset: 'quick', lm, setups: ['tblok'] } } as never),
    ).rejects.toThrow(/config\.setups/);
    expect(count('reproduce')).toBe(0);
  });

  it('a killed reproduction (left interrupted) finishes with `scalar resume`, reusing its finished steps', async () => {
    const config = configOf(1);
    seedReproductionRuns(service.store, config, [0]);
    // What a killed process leaves: the run recorded as running, then marked interrupted.
    const killed = service.store.createRun({ kind: 'reproduce', name: 'killed', config, seed: 0 });
    service.store.startRun(killed.id);
    service.store.updateRunStatus(killed.id, 'interrupted');
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await main(['resume', killed.id, '--data-dir', dir])).toBe(0);
    } finally {
      out.mockRestore();
    }
    const done = service.store.requireRun(killed.id);
    expect(done.status).toBe('completed');
    expect(count(['sae', 'scalar'])).toBe(4);
    expect(count('reproduce')).toBe(1);
  });

  it('a bundle of a reproduction brings the runs it reused (not its children), and imports elsewhere', async () => {
    const config = configOf(1);
    seedReproductionRuns(service.store, config, [0]);
    const run = await runReproduce(service, config);
    const steps = Object.values((run.progress as unknown as { children: Record<string, string> }).children);
    expect(service.store.listRuns({ parentId: run.id })).toEqual([]);
    const zip = path.join(dir, 'reproduction.zip');
    const res = await exportBundle(service.store, [run.id], zip, { withDeps: true });
    expect(new Set(res.runs)).toEqual(new Set([run.id, ...steps]));
    const other = Store.open(path.join(dir, 'other'), { appVersion: 'test' });
    try {
      expect(new Set((await importBundle(other, zip)).imported)).toEqual(new Set(res.runs));
    } finally {
      other.close();
    }
  });

  it('the command copies the report to --out and prints the claims as JSON', async () => {
    const config = configOf(1);
    seedReproductionRuns(service.store, config, [0]);
    const out = path.join(dir, 'out');
    const lines: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((c) => (lines.push(String(c)), true));
    const argv = ['reproduce', '--preset', 'quick', '--seeds', '1', '--setups', 'tblock', '--no-variants'];
    try {
      expect(await main([...argv, '--lm', lm, '--data-dir', dir, '--out', out, '--json'])).toBe(0);
    } finally {
      spy.mockRestore();
    }
    const json = JSON.parse(lines.filter((l) => l.trim().startsWith('{')).at(-1)!) as {
      status: string;
      claims: { id: string; verdict: string }[];
    };
    expect(json.status).toBe('completed');
    const written = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as ReproduceReport;
    expect(json.claims.map((c) => c.verdict)).toEqual(written.claims.map((c) => c.verdict));
    expect(fs.readFileSync(path.join(out, 'report.md'), 'utf8')).toContain('## Claims');
    expect(fs.existsSync(path.join(out, 'figures', 'reduction-tblock-staircase-abs.svg'))).toBe(true);
    expect(count(['sae', 'scalar'])).toBe(4);
  });
});
