/**
 * The PyTorch CPU peer (../shared/bench/torch_peer.py), run in the same benchmark invocation so both figures
 * come from the same machine under the same load.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const PYTHON = process.env.SCALAR_PEER_PYTHON ?? '/usr/bin/python3';

export function peerScript(): string {
  return (
    process.env.SCALAR_PEER_SCRIPT ??
    path.resolve(fileURLToPath(new URL('../../../', import.meta.url)), '../shared/bench/torch_peer.py')
  );
}

export type PeerResult =
  { peer: Record<string, unknown>; machine: Record<string, unknown> } | { missing: string };

/** Runs one peer workload with as many threads as we have cores; extra args are passed through. */
export function runPeer(workload: string, extraArgs: string[] = []): PeerResult {
  const script = peerScript();
  if (!fs.existsSync(script)) return { missing: `peer script not found at ${script}` };
  if (!fs.existsSync(PYTHON)) return { missing: `${PYTHON} not found` };
  const probe = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' });
  if (probe.status !== 0)
    return { missing: `torch/numpy not importable by ${PYTHON}: ${probe.stderr.trim().split('\n').pop()}` };
  const threads = String(os.availableParallelism());
  const args = [script, '--workload', workload, '--threads', threads, '--json', ...extraArgs];
  process.stderr.write(`peer: ${PYTHON} ${args.map((a) => path.basename(a)).join(' ')}\n`);
  const res = spawnSync(PYTHON, args, {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (res.status !== 0) return { missing: `peer exited with status ${res.status}` };
  const last = res.stdout.trim().split('\n').pop() ?? '';
  const parsed = JSON.parse(last) as Record<string, Record<string, unknown>>;
  return { peer: parsed[workload], machine: parsed.machine };
}
