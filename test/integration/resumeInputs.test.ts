/**
 * Resume never changes a run's inputs (issue 13). An LM run on a corpus file is stopped mid-way (cancel saves
 * its state); the corpus is then edited: resume is refused, naming the file and both sha256 hashes, and the
 * store is left as it was; a deleted corpus is refused even when told to accept changes; with
 * `acceptChangedInputs` the run continues on the new file and its record keeps the identity it replaced. A
 * half-written checkpoint (`.tmp-PID`) left in the run folder is gone once the run resumes. A queued run whose
 * input changes before it starts fails with the same explanation instead of silently training on other text.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScalarService } from '../../src-main/api/service.ts';
import { initBackend } from '../../src-main/engine/backend.ts';
import { runArtifactsDir } from '../../src-main/store/index.ts';
import { lmJobFromOptions } from '../../src-shared/jobBuilders.ts';
import type { JobEvent } from '../../src-shared/jobs.ts';
import { snapshot } from '../unit/badInput.helpers.ts';
import { makeTempDir, removeDir } from '../unit/store.helpers.ts';

const TEXT = 'It was the best of times, it was the worst of times, it was the age of wisdom. '.repeat(80);
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

let tmp: string;
let service: ScalarService;
let corpus: string;
let runId: string;
const events: JobEvent[] = [];

const spec = (file: string, steps = 40) => {
  const built = lmJobFromOptions({ preset: 'quick', steps, batchSize: 2, evalEvery: 5, corpus: file });
  if (!built.ok) throw new Error('spec');
  return built.spec;
};

beforeAll(async () => {
  await initBackend(); // compiles and caches the kernels before the worker needs them
  tmp = makeTempDir('scalar-resume-inputs-');
  corpus = path.join(tmp, 'corpus.txt');
  fs.writeFileSync(corpus, TEXT);
  service = new ScalarService({ dataDir: path.join(tmp, 'data'), mode: 'cli', autoLatentStats: false });
  service.onEvent((e) => events.push(e));
  const run = service.jobs.submit(spec(corpus), { name: 'pinned' });
  runId = run.id;
  // Stop it as soon as it trains (a cancel saves the training state).
  await new Promise<void>((resolve) => {
    const off = service.onEvent((e) => {
      if (e.runId === runId && e.type === 'progress' && e.progress.step >= 3) {
        off();
        service.jobs.cancel(runId);
        resolve();
      }
    });
  });
  expect((await service.jobs.wait(runId)).status).toBe('cancelled');
}, 120_000);

afterAll(async () => {
  await service?.close();
  if (tmp) removeDir(tmp);
});

describe('inputs pinned to a run', () => {
  it('records the corpus identity when the run is submitted', async () => {
    const detail = await service.call('runs.get', { id: runId });
    expect(detail.inputs).toEqual([
      expect.objectContaining({
        role: 'corpus',
        path: corpus,
        sha256: sha(TEXT),
        bytes: TEXT.length,
        replaced: [],
      }),
    ]);
  });

  it('refuses to resume on an edited corpus, naming the file and both hashes; nothing changes', async () => {
    const edited = TEXT + 'A new paragraph that the first half of training never saw.\n';
    fs.writeFileSync(corpus, edited);
    const before = snapshot(service.store);
    await expect(service.call('jobs.resume', { id: runId })).rejects.toThrow(
      new RegExp(
        `run ${runId} cannot be resumed: its corpus ${corpus.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} changed since the run was submitted ` +
          `\\(sha256 ${sha(TEXT)} then, ${sha(edited)} now; ${TEXT.length} bytes then, ${edited.length} now\\)\\. ` +
          `Put the original file back, or resume with --accept-changed-inputs`,
      ),
    );
    expect(snapshot(service.store)).toEqual(before);
    expect(service.store.requireRun(runId).status).toBe('cancelled');
  });

  it('refuses a deleted corpus even when told to accept changes', async () => {
    const kept = fs.readFileSync(corpus);
    fs.rmSync(corpus);
    const before = snapshot(service.store);
    await expect(service.call('jobs.resume', { id: runId, acceptChangedInputs: true })).rejects.toThrow(
      /its corpus .*corpus\.txt is gone \(sha256 [0-9a-f]{64}, \d+ bytes when the run was submitted\)\. Put the file back, or start a new run\./,
    );
    expect(snapshot(service.store)).toEqual(before);
    fs.writeFileSync(corpus, kept);
  });

  it('with acceptChangedInputs continues on the new file, records what it replaced, and removes stale temp files', async () => {
    const stale = path.join(runArtifactsDir(service.store.dataDir, runId), 'state.safetensors.tmp-4194999');
    fs.writeFileSync(stale, 'half a checkpoint');
    const now = fs.readFileSync(corpus);
    const resumed = await service.call('jobs.resume', { id: runId, acceptChangedInputs: true });
    expect(resumed.status).toMatch(/queued|running/);
    const done = await service.jobs.wait(runId);
    expect(done.status, done.error ?? '').toBe('completed');
    expect(fs.existsSync(stale)).toBe(false);
    const [input] = service.store.runInputs(runId);
    expect(input).toMatchObject({ sha256: sha(now), bytes: now.length });
    expect(input.replaced).toEqual([{ sha256: sha(TEXT), bytes: TEXT.length, at: expect.any(String) }]);
    expect(
      events.some(
        (e) => e.runId === runId && e.type === 'log' && /continuing on the changed corpus/.test(e.message),
      ),
    ).toBe(true);
  });

  it('a queued run whose corpus changes before it starts fails with the reason instead of training on other text', async () => {
    const second = path.join(tmp, 'second.txt');
    fs.writeFileSync(second, TEXT);
    // One job at a time: the first keeps the slot while the second waits in the queue.
    const first = service.jobs.submit(spec(corpus, 400), { name: 'holds the slot' });
    const queued = service.jobs.submit(spec(second), { name: 'waits' });
    expect(service.store.requireRun(queued.id).status).toBe('queued');
    fs.appendFileSync(second, 'changed while queued\n');
    service.jobs.cancel(first.id);
    const failed = await service.jobs.wait(queued.id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(
      new RegExp(
        `run ${queued.id} cannot be started: its corpus .*second\\.txt changed since the run was submitted \\(sha256 ${sha(TEXT)} then`,
      ),
    );
  });
});
