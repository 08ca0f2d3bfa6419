// Worker bootstrap, used only when running from TypeScript sources (threads.ts): registers the tsx loader in
// this thread before importing the real `.ts` worker entry (worker threads do not inherit the main thread's
// loader hooks). Built workers (out/main/<name>.js) are plain JavaScript and start without it.
import { workerData } from 'node:worker_threads';

if (workerData.entry.endsWith('.ts')) {
  const { register } = await import('tsx/esm/api');
  register();
}
await import(workerData.entry);
