/** What every CLI command shares: global options, the service, and running a job in the foreground. */
import type { JobEvent, JobSpec } from '../../src-shared/jobs.ts';
import { ScalarService } from '../api/service.ts';
import { prepareDataDir, type RunRecord } from '../store/index.ts';
import type { GlobalFlags } from './args.ts';
import { ProgressLine } from './terminal.ts';

// The flags every command shares and the usage error live beside the argument parsers (no service imports there).
export { GLOBAL_OPTIONS, UsageError, type GlobalFlags } from './args.ts';

export function openService(flags: GlobalFlags): ScalarService {
  const layout = prepareDataDir({ dataDir: flags['data-dir'] });
  return new ScalarService({ dataDir: layout.root, mode: 'cli', backend: flags.backend });
}

/** Human output goes to stderr so that stdout's last line can be the --json object. */
export function say(message: string): void {
  process.stderr.write(`${message}\n`);
}

/**
 * Runs (or resumes) a job in the foreground with a progress line. Ctrl-C cancels it; a cancelled job keeps
 * its saved state and can be resumed with `scalar resume <run-id>`.
 */
export async function runInForeground(
  service: ScalarService,
  start:
    | { spec: JobSpec; name?: string; parentId?: string; intro?: string }
    | { resume: string; acceptChangedInputs?: boolean },
): Promise<RunRecord> {
  const line = new ProgressLine();
  let runId = '';
  // Events sent while the run is being created (e.g. warnings about its inputs) wait until its id is known.
  const early: JobEvent[] = [];
  const show = (e: JobEvent) => {
    if (e.type === 'progress') line.update(e.progress);
    else if (e.type === 'log') line.log(e.message);
  };
  const off = service.onEvent((e) => {
    if (!runId) early.push(e);
    else if (e.runId === runId) show(e);
  });
  let run: RunRecord;
  try {
    run =
      'resume' in start
        ? service.jobs.resume(start.resume, { acceptChangedInputs: start.acceptChangedInputs })
        : service.jobs.submit(start.spec, { name: start.name, parentId: start.parentId });
  } catch (err) {
    off();
    throw err;
  }
  runId = run.id;
  line.log(`${'resume' in start ? 'resuming' : 'started'} run ${runId}`);
  // Said once the run is accepted (a refused one says only why), before its first step.
  if ('intro' in start && start.intro) line.log(start.intro);
  for (const e of early.splice(0)) if (e.runId === runId && e.type === 'log') show(e);
  let interrupts = 0;
  const onSigint = () => {
    interrupts += 1;
    if (interrupts > 1) process.exit(130);
    line.log('cancelling (state is saved; press Ctrl-C again to quit at once)...');
    service.jobs.cancel(runId);
  };
  process.on('SIGINT', onSigint);
  try {
    const done = await service.jobs.wait(runId);
    line.end();
    return done;
  } finally {
    process.off('SIGINT', onSigint);
    off();
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
