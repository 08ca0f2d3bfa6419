/**
 * Streamed SAE training data (config `stream`, SPEC §3.4 at GPT-2 scale): memory bounded by the buffer whatever
 * the text set's size.
 *
 *   validation  the first V = ⌈evalTokens / T⌉ windows of T + 1 tokens of the text set (never trained on)
 *   training    disjoint windows of T tokens after them, epoch after epoch (each epoch restarts after the head)
 *   refill      the next `forwardWindows` windows → frozen LM forward → their C = forwardWindows·T rows appended
 *               to the activation buffer, while buffer rows + C ≤ bufferTokens
 *   micro-batch m = (batchSize / gradAccum)·T rows taken at random from the buffer, generator (seed, t, a)
 *
 * With a producer thread the refills for the next micro-batch are computed while the SAEs train on this one.
 * The saved state is the buffer's rows and the stream position of the oldest refill not yet in the buffer, so a
 * resumed run (with or without the thread) draws exactly the rows of an uninterrupted one.
 */
import * as tf from '@tensorflow/tfjs';
import { evalProtocolOf } from '../../../src-shared/evalProtocol.ts';
import { streamProblem } from '../../../src-shared/sae.ts';
import { Rng } from '../random.ts';
import type { Batch } from '../text/index.ts';
import { WindowStream, type WindowPosition } from '../text/windowStream.ts';
import { ActivationBuffer } from './activationBuffer.ts';
import { ActivationStream } from './activationStream.ts';
import { lmActivations } from './lmActivations.ts';
import type { SaeData, SaeDataOptions } from './saeData.ts';
import type { HookActs } from './step.ts';

/** Where the training stream stands: epoch, position in the text set, windows read in all and in this epoch. */
interface StreamAt extends WindowPosition {
  epoch: number;
  windows: number;
  windowsInEpoch: number;
}

const BUFFER_PREFIX = 'buffer.';

/** Validation batches of `perBatch` windows of T + 1 tokens (inputs: the first T, targets: the last T). */
function windowBatches(windows: Int32Array[], T: number, perBatch: number): Batch[] {
  const out: Batch[] = [];
  for (let i = 0; i < windows.length; i += perBatch) {
    const ws = windows.slice(i, i + perBatch);
    const inputs = new Int32Array(ws.length * T);
    const targets = new Int32Array(ws.length * T);
    ws.forEach((w, b) => {
      inputs.set(w.subarray(0, T), b * T);
      targets.set(w.subarray(1, T + 1), b * T);
    });
    const starts = Int32Array.from(ws, (_, b) => (i + b) * (T + 1));
    out.push({ inputs, targets, starts, batchSize: ws.length, contextLength: T });
  }
  return out;
}

export async function openStreamData(o: SaeDataOptions): Promise<SaeData> {
  const { config, lm, tokenizer, hooks, seqLen: T } = o;
  const stream = config.stream!;
  const s = config.schedule;
  const A = s.gradAccum ?? 1;
  const problem = streamProblem(stream, s, T);
  if (problem) throw new Error(`the activation buffer (bufferTokens) ${problem}`);
  const microRows = (s.batchSize / A) * T;
  const C = stream.forwardWindows;
  const spec = config.corpus;

  // Validation: the head of the text set.
  const evalTokens = config.evaluation?.evalTokens ?? s.evalBatches * s.batchSize * T;
  const V = Math.ceil(evalTokens / T);
  const head = new WindowStream(spec, tokenizer);
  const val: Int32Array[] = [];
  for (let i = 0; i < V; i++) {
    const w = head.next(T + 1);
    if (!w)
      throw new Error(
        `text set ${spec} holds only ${i} windows of ${T + 1} tokens, fewer than the ${V} the validation set takes (evalTokens ${evalTokens}): lower evalTokens or use a larger text set`,
      );
    val.push(w);
  }
  const trainStart = head.position();

  // Training windows.
  const saved = o.resumed?.json?.stream as StreamAt | undefined;
  let at: StreamAt = saved ?? { epoch: 0, ...trainStart, windows: 0, windowsInEpoch: 0 };
  let windows = saved ? new WindowStream(spec, tokenizer, saved) : head;
  const nextWindow = (): Int32Array => {
    for (;;) {
      const w = windows.next(T);
      if (w) {
        at = {
          epoch: at.epoch,
          ...windows.position(),
          windows: at.windows + 1,
          windowsInEpoch: at.windowsInEpoch + 1,
        };
        return w;
      }
      if (at.windowsInEpoch === 0)
        throw new Error(
          `text set ${spec} has no window of ${T} tokens left for training after its ${V} validation windows: use a larger text set or lower evalTokens`,
        );
      windows = new WindowStream(spec, tokenizer, trainStart);
      at = { epoch: at.epoch + 1, ...trainStart, windows: at.windows, windowsInEpoch: 0 };
    }
  };
  /** The next refill's windows as one batch, and where the stream stood before them. */
  const nextRefill = (): { batch: Batch; from: StreamAt } => {
    const from = at;
    const inputs = new Int32Array(C * T);
    for (let b = 0; b < C; b++) inputs.set(nextWindow(), b * T);
    return {
      batch: { inputs, targets: inputs, starts: new Int32Array(C), batchSize: C, contextLength: T },
      from,
    };
  };

  const buffer = new ActivationBuffer(hooks, lm.config.dModel, stream.bufferTokens);
  if (saved) buffer.restore(o.resumed!.host, BUFFER_PREFIX);

  // Refills: in-process, or on the producer thread with enough requests in flight to cover one micro-batch.
  const worker = o.pipeline ? await ActivationStream.start(lm, hooks) : null;
  const depth = Math.ceil(microRows / (C * T));
  const inFlight: { id: number; from: StreamAt }[] = [];
  const refill = async (): Promise<Record<string, Float32Array>> => {
    if (!worker) {
      const acts = lmActivations(lm, nextRefill().batch, hooks);
      try {
        const data = await Promise.all(hooks.map((h) => acts[h].data() as Promise<Float32Array>));
        return Object.fromEntries(hooks.map((h, i) => [h, data[i]]));
      } finally {
        tf.dispose(Object.values(acts));
      }
    }
    while (inFlight.length < depth + 1) {
      const r = nextRefill();
      inFlight.push({ id: worker.request(r.batch), from: r.from });
    }
    return worker.takeArrays(inFlight.shift()!.id);
  };

  return {
    seqLen: T,
    evalBatches: windowBatches(val, T, C),
    protocol: {
      ...evalProtocolOf(config),
      tokens: V * T,
      windows: V,
      seqLen: T,
    },
    pipelined: worker !== null,
    tokensPerStep: s.batchSize * T,
    async step(t: number): Promise<HookActs[]> {
      const out: HookActs[] = [];
      try {
        for (let a = 0; a < A; a++) {
          while (buffer.count + C * T <= buffer.capacity) buffer.append(await refill());
          const rows = buffer.take(microRows, Rng.derive(config.seed, 'activation-buffer', t, a));
          out.push(
            Object.fromEntries(hooks.map((h) => [h, tf.tensor2d(rows[h], [microRows, lm.config.dModel])])),
          );
        }
        return out;
      } catch (err) {
        tf.dispose(out.flatMap((m) => Object.values(m)));
        throw err;
      }
    },
    snapshot: () => ({
      // The oldest refill not in the buffer yet: a resumed run computes it (and those after it) again.
      json: { stream: inFlight[0]?.from ?? at },
      host: buffer.snapshot(BUFFER_PREFIX),
    }),
    info: () => ({
      source: 'stream',
      validation: `the first ${V} windows of ${T + 1} tokens of the text set`,
      buffer_tokens: buffer.capacity,
      buffer_bytes: buffer.bytes,
      forward_windows: C,
      micro_batch_tokens: microRows,
      grad_accum: A,
      epoch: at.epoch,
      windows_read: at.windows,
    }),
    close: async () => worker?.close(),
  };
}
