/** Worker thread of `compare.scalar` (compareThread.ts): reads two SCALAR runs' per-token KL and bootstraps. */
import { parentPort } from 'node:worker_threads';
import { compareRecords } from '../jobs/scalarResults.ts';
import { apiComparison } from './compare.ts';
import type { CompareRequest } from './compareThread.ts';

parentPort!.on('message', ({ id, req }: { id: number; req: CompareRequest }) => {
  try {
    const c = compareRecords(req.dataDir, req.run, req.base, req.resamples, req.seed);
    parentPort!.postMessage({ id, result: apiComparison(c, req.resamples, req.seed) });
  } catch (err) {
    parentPort!.postMessage({ id, error: (err as Error).message });
  }
});
