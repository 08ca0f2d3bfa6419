/** scalar score: mean cross-entropy per token (nats) of a text under a language model, toy or GPT-2. */
import { parseArgs } from 'node:util';
import { initBackend } from '../../engine/backend.ts';
import { loadLmModel, readLmTokenizerName } from '../../engine/io/lmCheckpoint.ts';
import { scoreTokens } from '../../engine/lm/score.ts';
import { readTextSet, tokenizePieces, tokenizerNamed } from '../../engine/text/index.ts';
import { defaultLmRef, resolveLmRef } from '../../jobs/lmRef.ts';
import { InputError } from '../../userErrors.ts';
import { GLOBAL_OPTIONS, openService, printJson, say, UsageError } from '../context.ts';

export const usage = `scalar score [--lm RUN_ID|resources:NAME|PATH] [--corpus TEXT_SET] [--max-tokens N] [--batch-size B] [--json]
  Mean cross-entropy per token (nats) and the token count of a text under a language model: a trained LM run, a
  bundled model, or a model folder (ours, or a Hugging Face GPT-2 folder with config.json + model.safetensors).
  The text is tokenized with the model's tokenizer (characters for the toy models, GPT-2 BPE for GPT-2) and read
  in windows of the model's context that share one token, so every token after the first is predicted once.
  TEXT_SET: builtin:brown (default), a text file, a .jsonl file with a "text" field per line, or a folder of them.`;

function positiveInt(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`option --${flag} must be an integer ≥ 1 (got ${value})`);
  return n;
}

export async function scoreCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...GLOBAL_OPTIONS,
      lm: { type: 'string' },
      corpus: { type: 'string', default: 'builtin:brown' },
      'max-tokens': { type: 'string' },
      'batch-size': { type: 'string' },
    },
  });
  if (values.help) return (say(usage), 0);
  const maxTokens = positiveInt('max-tokens', values['max-tokens']);
  const batchSize = positiveInt('batch-size', values['batch-size']);
  const lm = values.lm ?? defaultLmRef();
  if (!lm) throw new UsageError('no --lm given and no bundled model found under resources/models');
  const service = openService(values);
  let location: string;
  try {
    location = resolveLmRef(lm, service.store);
  } finally {
    await service.close();
  }
  const backend = await initBackend(values.backend);
  let gpt;
  let tokenizerName;
  try {
    tokenizerName = readLmTokenizerName(location);
    gpt = loadLmModel(location);
  } catch (err) {
    throw new InputError(`language model ${lm}: ${(err as Error).message}`);
  }
  try {
    const tokenizer = tokenizerNamed(tokenizerName);
    const started = Date.now();
    const result = await scoreTokens(gpt, tokenizePieces(readTextSet(values.corpus), tokenizer), {
      maxTokens,
      batchSize,
    });
    const seconds = (Date.now() - started) / 1000;
    say(
      `${lm} on ${values.corpus}: mean cross-entropy ${result.meanCe.toFixed(4)} nats/token over ${result.tokens} tokens ` +
        `(perplexity ${Math.exp(result.meanCe).toFixed(2)}; ${tokenizer.name} tokenizer; ${backend.name}; ${seconds.toFixed(1)} s)`,
    );
    if (values.json)
      printJson({
        status: 'ok',
        lm,
        corpus: values.corpus,
        tokenizer: tokenizer.name,
        mean_ce: result.meanCe,
        tokens: result.tokens,
        perplexity: Math.exp(result.meanCe),
        backend: backend.name,
        seconds,
      });
    return 0;
  } finally {
    gpt.dispose();
  }
}
