/** Entry of the `scalar` command: dispatches to the subcommands. */
import { benchCommand, benchUsage } from './commands/bench.ts';
import { bundleCommand, usage as bundleUsage } from './commands/bundle.ts';
import { compareCommand, usage as compareUsage } from './commands/compare.ts';
import { evalScalarCommand, usage as evalUsage } from './commands/evalScalar.ts';
import { importSaeCommand, usage as importSaeUsage } from './commands/importSae.ts';
import { latentStatsCommand, usage as latentStatsUsage } from './commands/latentStats.ts';
import { pipelineCommand, usage as pipelineUsage } from './commands/pipeline.ts';
import { reportCommand, usage as reportUsage } from './commands/report.ts';
import { reproduceCommand, usage as reproduceUsage } from './commands/reproduce.ts';
import {
  exportCommand,
  exportUsage,
  resumeCommand,
  resumeUsage,
  runsCommand,
  runsUsage,
} from './commands/runs.ts';
import { scoreCommand, usage as scoreUsage } from './commands/score.ts';
import { serveCommand, usage as serveUsage } from './commands/serve.ts';
import { trainLmCommand, usage as trainLmUsage } from './commands/trainLm.ts';
import { trainSaeCommand, usage as trainSaeUsage } from './commands/trainSae.ts';
import { validateRankingCommand, usage as validateRankingUsage } from './commands/validateRanking.ts';
import { userMessage } from '../userErrors.ts';
import { printJson, say, UsageError } from './context.ts';

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<number>; usage: string }> = {
  'train-lm': { run: trainLmCommand, usage: trainLmUsage },
  'train-sae': { run: trainSaeCommand, usage: trainSaeUsage },
  'import-sae': { run: importSaeCommand, usage: importSaeUsage },
  eval: { run: evalScalarCommand, usage: evalUsage },
  'latent-stats': { run: latentStatsCommand, usage: latentStatsUsage },
  compare: { run: compareCommand, usage: compareUsage },
  report: { run: reportCommand, usage: reportUsage },
  pipeline: { run: pipelineCommand, usage: pipelineUsage },
  reproduce: { run: reproduceCommand, usage: reproduceUsage },
  runs: { run: runsCommand, usage: runsUsage },
  resume: { run: resumeCommand, usage: resumeUsage },
  export: { run: exportCommand, usage: exportUsage },
  bundle: { run: bundleCommand, usage: bundleUsage },
  serve: { run: serveCommand, usage: serveUsage },
  bench: { run: benchCommand, usage: benchUsage },
  score: { run: scoreCommand, usage: scoreUsage },
  'validate-ranking': { run: validateRankingCommand, usage: validateRankingUsage },
};

function help(): string {
  return [
    'usage: scalar <command> [options]   (every command takes --help)',
    '',
    ...Object.values(COMMANDS).map((c) => `  ${c.usage.split('\n')[0]}`),
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    say(help());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    say(`unknown command '${name}'\n\n${help()}`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    const e = err as Error & { code?: string };
    if (
      e instanceof UsageError ||
      // node:util parseArgs: unknown option, bad value, or a positional argument where none is taken.
      e.code?.startsWith('ERR_PARSE_ARGS_')
    ) {
      say(`scalar ${name}: ${e.message}\n\n${command.usage}`);
      if (rest.includes('--json')) printJson({ status: 'refused', error: e.message });
      return 2;
    }
    // One sentence for the user; the stack and raw details only with --debug.
    say(`scalar ${name}: ${userMessage(e, { debug: rest.includes('--debug') })}`);
    // Scripts reading the --json line learn why nothing ran.
    if (rest.includes('--json')) printJson({ status: 'refused', error: userMessage(e) });
    return 1;
  }
}
