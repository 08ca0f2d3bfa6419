/** Running the `scalar` CLI (bin/scalar.mjs) in child processes for the integration tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSafetensorsFile } from '../../src-main/engine/io/safetensors.ts';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(REPO, 'bin', 'scalar.mjs');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The last stdout line parsed as JSON (the --json result), or null. */
  json: unknown;
}

export interface CliProcess {
  child: ChildProcess;
  /** stderr so far (progress and log lines). */
  stderr(): string;
  done: Promise<CliResult>;
}

export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const last = stdout.trim().split('\n').pop() ?? '';
      let json: unknown = null;
      try {
        json = JSON.parse(last);
      } catch {
        json = null;
      }
      resolve({ code, signal, stdout, stderr, json });
    });
  });
  return { child, stderr: () => stderr, done };
}

export function runCli(args: string[], env?: NodeJS.ProcessEnv): Promise<CliResult> {
  return startCli(args, env).done;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The step recorded in the state.safetensors of the (first) run under dataDir, or null while there is none. */
export function savedStep(dataDir: string): { runId: string; step: number } | null {
  const artifacts = path.join(dataDir, 'artifacts');
  if (!fs.existsSync(artifacts)) return null;
  for (const runId of fs.readdirSync(artifacts)) {
    const file = path.join(artifacts, runId, 'state.safetensors');
    if (!fs.existsSync(file)) continue;
    try {
      return { runId, step: JSON.parse(readSafetensorsFile(file).metadata.state).step as number };
    } catch {
      return null; // being replaced right now (the write is atomic, but the directory read can race)
    }
  }
  return null;
}

/**
 * Starts `scalar <args> --data-dir dataDir`, waits (up to 60 s) until it has saved a training state at step
 * ≥ minStep, then kills it with SIGKILL. `saved` is the state seen before the kill (null if none appeared).
 */
export async function killAfterCheckpoint(
  args: string[],
  dataDir: string,
  minStep: number,
): Promise<{ saved: { runId: string; step: number } | null; killed: CliResult }> {
  const proc = startCli([...args, '--data-dir', dataDir]);
  let saved: { runId: string; step: number } | null = null;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    saved = savedStep(dataDir);
    if (saved && saved.step >= minStep) break;
    if (proc.child.exitCode !== null) break;
    await sleep(10);
  }
  proc.child.kill('SIGKILL');
  return { saved, killed: await proc.done };
}
