// Worker bootstrap: when running from TypeScript sources, register the tsx loader in this thread before
// importing the real worker entry (worker threads do not inherit the main thread's loader hooks).
import { workerData } from 'node:worker_threads';

if (workerData.entry.endsWith('.ts')) {
  const { register } = await import('tsx/esm/api');
  register();
}
await import(workerData.entry);
