/**
 * scalar bench <workload>: our figure and the PyTorch peer's from the same run. The last stdout line is
 * {"bench", "ours", "peer", "ratio", "backend"} where ratio > 1 means we are faster than the peer.
 */
import { parseArgs } from 'node:util';
import { backendReport, initBackend } from '../../engine/backend.ts';
import { benchLm } from '../bench/lmBench.ts';
import { runPeer } from '../bench/peer.ts';
import { GLOBAL_OPTIONS, printJson, say, UsageError } from '../context.ts';

interface Workload {
  describe: string;
  /** Our measurement, and which peer workload(s) it is compared with. */
  run: () => Promise<{ ours: Record<string, unknown>; peerWorkload: string; ratio: (ours: Record<string, unknown>, peer: Record<string, unknown>) => number }>;
}

const WORKLOADS: Record<string, Workload> = {
  lm: {
    describe: 'ascii-64x4 AdamW training, batch 32×128, tokens/s (peer: gpt_train)',
    run: async () => ({
      ours: benchLm(),
      peerWorkload: 'gpt_train',
      ratio: (o, p) => Number(o.tokens_per_s) / Number(p.tokens_per_s),
    }),
  },
};

export const benchUsage = `scalar bench <${Object.keys(WORKLOADS).join('|')}> [--no-peer] [--backend B]   (npm run bench -- <workload>)`;

export async function benchCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { ...GLOBAL_OPTIONS, 'no-peer': { type: 'boolean', default: false } },
    allowPositionals: true,
  });
  if (values.help) return say(`${benchUsage}\n${Object.entries(WORKLOADS).map(([k, w]) => `  ${k}: ${w.describe}`).join('\n')}`), 0;
  const name = positionals[0];
  const workload = name ? WORKLOADS[name] : undefined;
  if (!workload) throw new UsageError(`choose a workload: ${Object.keys(WORKLOADS).join(', ')}`);
  await initBackend(values.backend);
  const backend = backendReport();
  say(`bench ${name}: ours on ${backend.name} (${backend.detail}, kernels ${backend.kernels})...`);
  const { ours, peerWorkload, ratio } = await workload.run();
  say(`ours: ${JSON.stringify(ours)}`);
  const peerRun = values['no-peer'] ? { missing: '--no-peer given' } : runPeer(peerWorkload);
  const result =
    'missing' in peerRun
      ? { bench: name, ours, peer: null, ratio: null, backend: backend.name, peer_missing: peerRun.missing }
      : {
          bench: name,
          ours,
          peer: peerRun.peer,
          ratio: Math.round(ratio(ours, peerRun.peer) * 1000) / 1000,
          backend: backend.name,
          peer_workload: peerWorkload,
          machine: peerRun.machine,
        };
  printJson(result);
  return 0;
}
