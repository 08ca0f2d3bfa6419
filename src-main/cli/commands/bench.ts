/**
 * scalar bench <workload>: our figure and the PyTorch peer's from the same run. The last stdout line is
 * {"bench", "ours", "peer", "ratio", "backend"} where ratio > 1 means we are faster than the peer.
 */
import { parseArgs } from 'node:util';
import { backendReport, initBackend } from '../../engine/backend.ts';
import { benchExplorer } from '../bench/explorerBench.ts';
import { benchGpt2Sae } from '../bench/gpt2Bench.ts';
import { benchGpt2Scalar } from '../bench/gpt2ScalarBench.ts';
import { benchLm } from '../bench/lmBench.ts';
import { runPeer, type PeerResult } from '../bench/peer.ts';
import { benchSaeTraining } from '../bench/saeBench.ts';
import { benchScalar } from '../bench/scalarBench.ts';
import { GLOBAL_OPTIONS, printJson, say, UsageError } from '../context.ts';

type Figures = Record<string, unknown>;

/** `--batch B`: sequences per step for the training workloads (default 32; the paper trains at 128). */
let batch: number | undefined;
/** gpt2-scalar: `--layer L`, `--max-memory-mb N`, `--ablation-seconds S`. */
const gpt2: { layer?: number; maxMemoryMb?: number; ablationSeconds?: number } = {};

interface Workload {
  describe: string;
  /** Peer workloads this one is compared with (their results are merged under `peer`, keyed by name). */
  peerWorkloads: string[];
  /** Extra peer arguments per workload (e.g. its own sampling + extrapolation for hour-long workloads). */
  peerArgs?: Record<string, string[]>;
  run: () => Promise<Figures>;
  /** ours / peer ratio (> 1: we are faster); absent for workloads without a peer. */
  ratio?: (ours: Figures, peer: Record<string, Figures>) => number;
  /** The workload needs no compute backend (e.g. the UI bench). */
  noBackend?: boolean;
  /** Further ratios worth reporting beside the headline one. */
  extraRatios?: (ours: Figures, peer: Record<string, Figures>) => Record<string, number>;
}

const tokensRatio = (a: unknown, b: unknown) =>
  Number((a as Figures).tokens_per_s) / Number((b as Figures).tokens_per_s);

const WORKLOADS: Record<string, Workload> = {
  explorer: {
    describe:
      'circuit explorer in headless Chromium on a seeded pair with 2^16 stored edges: page open, and median / p95 ms from a slider move to the redrawn graph (goal: median < 100 ms); no peer',
    peerWorkloads: [],
    noBackend: true,
    run: () => benchExplorer(),
  },
  lm: {
    describe: 'ascii-64x4 AdamW training, batch 32×128, tokens/s (peer: gpt_train)',
    peerWorkloads: ['gpt_train'],
    run: () => benchLm({ batch }),
    ratio: (o, p) => tokensRatio(o, p.gpt_train),
  },
  sae: {
    describe:
      'five TopK ×8 SAEs (tblock) and the tblock staircase, batch 32×128, tokens/s; ratio = TopK (peer: sae_train_topk, sae_train_staircase)',
    peerWorkloads: ['sae_train_topk', 'sae_train_staircase'],
    run: async () => ({
      topk: await benchSaeTraining('topk', { batch }),
      staircase: await benchSaeTraining('staircase', { batch }),
    }),
    ratio: (o, p) => tokensRatio(o.topk, p.sae_train_topk),
    extraRatios: (o, p) => ({
      staircase: Math.round(tokensRatio(o.staircase, p.sae_train_staircase) * 1000) / 1000,
    }),
  },
  jsae: {
    describe:
      'JSAE pairs around the four MLPs (fflayer, ×8, k 10, λ 16 mean), batch 32×128, tokens/s (no peer)',
    peerWorkloads: [],
    run: async () => ({ jsae: await benchSaeTraining('jsae', { batch }) }),
  },
  'gpt2-sae': {
    describe:
      'GPT-2 Small real shapes with random weights (12 × 768, 12 heads, vocabulary 50,257, context 1,024): LM forward tokens/s, SAE training tokens/s at F 24,576, k 32 (one SAE and an ffblock pair), ms and peak RSS / heap / tensor bytes per step; --batch B windows of 128 tokens (default 8); 1 untimed + 2 timed steps each (no peer)',
    peerWorkloads: [],
    run: () => benchGpt2Sae({ batch }),
  },
  'gpt2-scalar': {
    describe:
      'one SCALAR ffblock pair at GPT-2 Small shapes with random weights (LM 124M, TopK SAEs F 24576 k 32) at the gpt2-paper settings: time per phase and peak memory; the ablation runs --ablation-seconds (default 120), the other budgets extrapolated from their counted units (no peer)',
    peerWorkloads: [],
    run: () => benchGpt2Scalar(gpt2),
  },
  scalar: {
    describe:
      'SCALAR on tblock TopK pair 1 at paper settings: IG attribution (576×128 tokens) + 35-budget ablation (50×128); ratio = peer seconds / ours (peer: ig_attribution, scalar_ablation, extrapolated by the peer from measured subsets)',
    peerWorkloads: ['ig_attribution', 'scalar_ablation'],
    peerArgs: {
      ig_attribution: ['--ig-targets', '32'],
      scalar_ablation: ['--max-n', '4095', '--ablation-group-cap', '24'],
    },
    run: async () => benchScalar(),
    ratio: (o, p) =>
      (Number(p.ig_attribution.seconds_extrapolated_576_seqs) +
        Number(p.scalar_ablation.seconds_grid_full_35)) /
      Number(o.seconds_total),
    extraRatios: (o, p) => ({
      attribution:
        Math.round(
          (Number(p.ig_attribution.seconds_extrapolated_576_seqs) / Number(o.seconds_attribution)) * 10,
        ) / 10,
      ablation:
        Math.round((Number(p.scalar_ablation.seconds_grid_full_35) / Number(o.seconds_ablation_grid)) * 10) /
        10,
    }),
  },
};

export const benchUsage = `scalar bench <${Object.keys(WORKLOADS).join('|')}> [--no-peer] [--backend B] [--batch B]
  gpt2-scalar: [--layer L] [--max-memory-mb N] [--ablation-seconds S]   (npm run bench -- <workload>)`;

export async function benchCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      ...GLOBAL_OPTIONS,
      'no-peer': { type: 'boolean', default: false },
      batch: { type: 'string' },
      layer: { type: 'string' },
      'max-memory-mb': { type: 'string' },
      'ablation-seconds': { type: 'string' },
    },
    allowPositionals: true,
  });
  if (values.help)
    return (
      say(
        `${benchUsage}\n${Object.entries(WORKLOADS)
          .map(([k, w]) => `  ${k}: ${w.describe}`)
          .join('\n')}`,
      ),
      0
    );
  const name = positionals[0];
  const workload = name ? WORKLOADS[name] : undefined;
  if (!workload) throw new UsageError(`choose a workload: ${Object.keys(WORKLOADS).join(', ')}`);
  if (workload.noBackend) {
    say(`bench ${name}...`);
    const ours = await workload.run();
    printJson({ bench: name, ours, peer: null, ratio: null });
    return 0;
  }
  if (values.batch !== undefined) {
    batch = Number(values.batch);
    if (!Number.isInteger(batch) || batch < 2 || batch % 2 !== 0)
      throw new UsageError(`option --batch must be an even integer ≥ 2 (got ${values.batch})`);
  }
  const positive = (flag: string, v: string | undefined, min = 1) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min)
      throw new UsageError(`option --${flag} must be an integer ≥ ${min} (got ${v})`);
    return n;
  };
  gpt2.layer = positive('layer', values.layer, 0);
  if (gpt2.layer !== undefined && gpt2.layer > 11)
    throw new UsageError(`option --layer must be 0–11 (got ${gpt2.layer})`);
  gpt2.maxMemoryMb = positive('max-memory-mb', values['max-memory-mb']);
  gpt2.ablationSeconds = positive('ablation-seconds', values['ablation-seconds'], 0);
  await initBackend(values.backend);
  const backend = backendReport();
  // What computed: the GPU adapter (vendor, architecture, driver) or the CPU, in every result.
  const device = { device: backend.device, ...(backend.adapter ? { adapter: backend.adapter } : {}) };
  say(
    `bench ${name}: ours on ${backend.name} (${backend.detail}, kernels ${backend.kernels}) on ${backend.device}...`,
  );
  const ours = await workload.run();
  say(`ours: ${JSON.stringify(ours)}`);
  const runs: Record<string, PeerResult> = {};
  for (const w of workload.peerWorkloads)
    runs[w] = values['no-peer'] ? { missing: '--no-peer given' } : runPeer(w, workload.peerArgs?.[w]);
  const missing = Object.values(runs).find((r): r is { missing: string } => 'missing' in r);
  let result: Record<string, unknown>;
  if (missing) {
    result = {
      bench: name,
      ours,
      peer: null,
      ratio: null,
      backend: backend.name,
      ...device,
      peer_missing: missing.missing,
    };
  } else if (workload.peerWorkloads.length === 0) {
    result = { bench: name, ours, peer: null, ratio: null, backend: backend.name, ...device };
  } else {
    const peer = Object.fromEntries(Object.entries(runs).map(([w, r]) => [w, (r as { peer: Figures }).peer]));
    const single = workload.peerWorkloads.length === 1;
    result = {
      bench: name,
      ours,
      peer: single ? peer[workload.peerWorkloads[0]] : peer,
      ratio: workload.ratio ? Math.round(workload.ratio(ours, peer) * 1000) / 1000 : null,
      ...(workload.extraRatios ? { ratios: workload.extraRatios(ours, peer) } : {}),
      backend: backend.name,
      ...device,
      machine: (Object.values(runs)[0] as { machine: Figures }).machine,
    };
  }
  printJson(result);
  return 0;
}
