/**
 * What a New run form turns into: one planned run per combination of its multi-valued fields, each with the
 * request that starts it, the spec the estimate is asked for, and the CLI options of the same run. Field errors
 * are collected per field (the first one wins) from the text parsers and the shared builders.
 */
import type { ApiParams, ApiResult } from '../../../src-shared/api.ts';
import type { CliOptions } from '../../../src-shared/cliCommand.ts';
import type { Built, FieldIssue } from '../../../src-shared/jobBuilders.ts';
import type { JobSpec } from '../../../src-shared/jobs.ts';
import type { PipelineJob } from '../../../src-shared/pipeline.ts';
import { parseIntList, parseNumberList } from '../../../src-shared/sweep.ts';
import type { Workstation } from '../../lib/workstation.svelte.ts';

export type StartCall =
  | { method: 'jobs.start'; params: ApiParams<'jobs.start'> }
  | { method: 'pipelines.start'; params: ApiParams<'pipelines.start'> }
  | { method: 'saes.import'; params: ApiParams<'saes.import'> }
  | { method: 'reproduce.start'; params: ApiParams<'reproduce.start'> };

export interface PlannedRun {
  /** How the run is listed before queueing (and usually its name). */
  label: string;
  start: StartCall;
  /** What `jobs.estimate` is asked about (imports take seconds and are not estimated). */
  estimate: JobSpec | PipelineJob | null;
  cli: CliOptions;
  /** Training runs: the schedule it will use, in words (as the CLI prints it before starting). */
  schedule?: string;
}

/** An SAE run chosen for SCALAR (its name labels the planned runs). */
export interface PickedRun {
  id: string;
  name: string;
}

/** Field → the first problem with it, in words. */
export type FieldErrors = Record<string, string>;

export interface Plan {
  runs: PlannedRun[];
  errors: FieldErrors;
  /** Why nothing is planned yet when no field is wrong (e.g. "choose at least one SAE run"). */
  pending?: string;
}

export function addError(errors: FieldErrors, field: string, message: string): void {
  if (!(field in errors)) errors[field] = message;
}

export function addIssues(errors: FieldErrors, issues: FieldIssue[]): void {
  for (const i of issues) addError(errors, i.field, i.message);
}

/** An optional number field: '' → undefined (the preset's value); otherwise a number, or an error. */
export function optionalNumber(text: string, field: string, errors: FieldErrors): number | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  const n = Number(t);
  if (!Number.isFinite(n)) {
    addError(errors, field, `'${t}' is not a number`);
    return undefined;
  }
  return n;
}

/** A list field of whole numbers ("0,1,2", "0-4"); an error leaves the list empty. */
export function intList(text: string, field: string, errors: FieldErrors): number[] {
  const r = parseIntList(text);
  if (r.ok) return r.values;
  addError(errors, field, r.error);
  return [];
}

export function numberList(text: string, field: string, errors: FieldErrors): number[] {
  const r = parseNumberList(text);
  if (r.ok) return r.values;
  addError(errors, field, r.error);
  return [];
}

/** A built job as a planned run, or its issues recorded as field errors. */
export function jobRun(
  built: Built<JobSpec>,
  cli: CliOptions,
  errors: FieldErrors,
  label?: string,
): PlannedRun | null {
  if (!built.ok) {
    addIssues(errors, built.issues);
    return null;
  }
  return {
    label: label ?? built.name ?? built.spec.kind,
    start: {
      method: 'jobs.start',
      params: { spec: built.spec, ...(built.name ? { name: built.name } : {}) },
    },
    estimate: built.spec,
    cli,
    ...(built.schedule ? { schedule: built.schedule } : {}),
  };
}

/** `--val-tokens`: '' → the preset's, `all` → the whole split, else a number (or an error). */
export function tokensOrAll(text: string, field: string, errors: FieldErrors): number | 'all' | undefined {
  return text.trim().toLowerCase() === 'all' ? 'all' : optionalNumber(text, field, errors);
}

/** Sends a planned run's start request. */
export async function startRun(ws: Workstation, call: StartCall): Promise<ApiResult<'jobs.start'>> {
  switch (call.method) {
    case 'jobs.start':
      return ws.api.call('jobs.start', call.params);
    case 'pipelines.start':
      return ws.api.call('pipelines.start', call.params);
    case 'saes.import':
      return ws.api.call('saes.import', call.params);
    case 'reproduce.start':
      return ws.api.call('reproduce.start', call.params);
  }
}

/** Durations as a rough estimate reads: "about 40 s", "about 12 min", "about 2.5 h". */
export function approxDuration(seconds: number): string {
  if (seconds < 90) return `about ${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 90 * 60) return `about ${Math.round(seconds / 60)} min`;
  const h = seconds / 3600;
  return `about ${h < 10 ? h.toFixed(1) : Math.round(h)} h`;
}

/** "1 run", "4 runs". */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
