/**
 * `scalar reproduce`'s command line: each mistake is refused with a sentence naming the option and the value given
 * (exit status 2, before any run exists), and the New run form's command line parses to the form's own config.
 */
import { describe, expect, it, vi } from 'vitest';
import { reproduceArgs } from '../../src-main/cli/commands/reproduce.ts';
import { main } from '../../src-main/cli/main.ts';
import { cliArgsFor } from '../../src-shared/cliCommand.ts';
import { reproduceConfigFromOptions, type ReproduceCliOptions } from '../../src-shared/reproduce.ts';

const LM = 'resources:ascii-64x4-brown';

describe('scalar reproduce arguments', () => {
  it.each([
    [[], 'option --preset is required: quick or paper-toy'],
    [['--preset', 'fast'], "option --preset must be quick or paper-toy (got 'fast')"],
    [['--preset', 'quick', '--seeds', '0'], "option --seeds must be a whole number from 1 to 20 (got '0')"],
    [
      ['--preset', 'quick', '--seeds', '2.5'],
      "option --seeds must be a whole number from 1 to 20 (got '2.5')",
    ],
    [['--preset', 'quick', '--seeds', 'three'], "option --seeds must be a number (got 'three')"],
    [
      ['--preset', 'quick', '--setups', 'fflayer,tblok'],
      "option --setups takes fflayer, ffblock, tblock separated by commas (got 'tblok')",
    ],
    [['--preset', 'quick', 'now'], "unexpected argument 'now'"],
  ])('%j → %s', (argv, message) => {
    expect(() => reproduceArgs(argv)).toThrow(message);
  });

  it('refuses with exit status 2 and the usage, before opening a store', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await main(['reproduce', '--preset', 'fast', '--data-dir', '/nonexistent/x'])).toBe(2);
      expect(await main(['reproduce', '--preset', 'quick', '--sedes', '3'])).toBe(2);
      const printed = [...out.mock.calls, ...err.mock.calls].map((c) => String(c[0])).join('');
      expect(printed).toContain("scalar reproduce: option --preset must be quick or paper-toy (got 'fast')");
      expect(printed).toContain("'--sedes'");
      expect(printed).toContain('scalar reproduce --preset quick|paper-toy [options]');
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
  });

  it('setups are kept in the paper order (fflayer, ffblock, tblock) and variants are on unless --no-variants', () => {
    const { config } = reproduceArgs(['--preset', 'quick', '--setups', 'tblock,fflayer', '--lm', LM]);
    expect(config).toMatchObject({
      preset: 'quick',
      seeds: 3,
      seed: 0,
      setups: ['fflayer', 'tblock'],
      variants: true,
    });
    expect(reproduceArgs(['--preset', 'paper-toy', '--no-variants', '--lm', LM]).config.variants).toBe(false);
  });

  it("the form's command line parses to the form's config", () => {
    const options: ReproduceCliOptions = {
      preset: 'quick',
      seeds: 2,
      seed: 5,
      setups: ['ffblock', 'tblock'],
      noVariants: true,
      lm: LM,
      name: 'two seeds',
    };
    const args = cliArgsFor({ command: 'reproduce', ...options });
    expect(args).toEqual([
      'reproduce',
      '--preset',
      'quick',
      '--seeds',
      '2',
      '--seed',
      '5',
      '--setups',
      'ffblock,tblock',
      '--no-variants',
      '--lm',
      LM,
      '--name',
      'two seeds',
    ]);
    const parsed = reproduceArgs(args.slice(1));
    const form = reproduceConfigFromOptions(options);
    expect(form.success).toBe(true);
    expect(parsed.config).toEqual(form.data);
    expect(parsed.name).toBe('two seeds');
  });
});
