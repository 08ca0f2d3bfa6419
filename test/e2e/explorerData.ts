/**
 * Data for the circuit-explorer suite, built the way a researcher's quick pipeline would (but only the steps the
 * explorer needs, on a tiny schedule): a quick LM (30 steps) → a TopK and a Staircase tblock SAE (20 steps each)
 * → latent statistics of both (few windows) → SCALAR on both with tiny windows. In-process (a CLI-mode service),
 * then closed so a web-mode server can open the same data dir.
 */
import { ScalarService } from '../../src-main/api/service.ts';
import { lmJobFromOptions, saeJobFromOptions, scalarJobFromOptions } from '../../src-shared/jobBuilders.ts';

export interface ExplorerData {
  lm: string;
  topk: string;
  staircase: string;
  scalarTopk: string;
  scalarStaircase: string;
  seconds: number;
}

function built<S>(b: { ok: true; spec: S } | { ok: false; issues: { message: string }[] }): S {
  if (!b.ok) throw new Error(b.issues.map((i) => i.message).join('; '));
  return b.spec;
}

export async function buildExplorerData(dataDir: string): Promise<ExplorerData> {
  const t0 = performance.now();
  const service = new ScalarService({ dataDir, mode: 'cli', autoLatentStats: false });
  try {
    const complete = async (spec: Parameters<ScalarService['jobs']['submit']>[0], name?: string) => {
      const run = service.jobs.submit(spec, name ? { name } : undefined);
      const done = await service.jobs.wait(run.id);
      if (done.status !== 'completed')
        throw new Error(`${spec.kind} ${run.id} ${done.status}: ${done.error}`);
      return done.id;
    };
    const lm = await complete(built(lmJobFromOptions({ preset: 'quick', steps: 30 })), 'explorer lm');
    const sae = (arch: string) =>
      complete(
        built(saeJobFromOptions({ lm, arch, setup: 'tblock', steps: 20, batchSize: 8, seqLen: 32 })),
        `${arch} tblock (explorer)`,
      );
    const [topk, staircase] = [await sae('topk'), await sae('staircase')];
    for (const id of [topk, staircase]) {
      const q = await service.call('latents.compute', {
        run: id,
        force: false,
        config: { seqs: 16, batchSize: 8, seqLen: 32 },
      });
      const done = await service.jobs.wait(q.id);
      if (done.status !== 'completed') throw new Error(`latent stats of ${id}: ${done.error}`);
    }
    const scalar = (id: string, name: string) =>
      complete(
        built(scalarJobFromOptions({ sae: id, attributionSeqs: 2, evalSeqs: 2, bootstrap: 10, steps: 2 })),
        name,
      );
    const scalarTopk = await scalar(topk, 'SCALAR topk (explorer)');
    const scalarStaircase = await scalar(staircase, 'SCALAR staircase (explorer)');
    return {
      lm,
      topk,
      staircase,
      scalarTopk,
      scalarStaircase,
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    await service.close();
  }
}
