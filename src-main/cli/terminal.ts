/** Terminal output for long jobs: a live progress line on a TTY, periodic plain lines otherwise. */
import type { JobProgress } from '../../src-shared/jobs.ts';
import { formatDuration } from '../engine/progress.ts';

export function formatRate(perSecond: number, unit: string): string {
  const v =
    perSecond >= 1e4 ? `${(perSecond / 1e3).toFixed(1)}k` : perSecond.toFixed(perSecond >= 100 ? 0 : 1);
  return `${v} ${unit}/s`;
}

export function progressText(p: JobProgress): string {
  const width = 24;
  const frac = p.total > 0 ? Math.min(1, p.step / p.total) : 0;
  const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
  const values = Object.entries(p.values)
    .map(([k, v]) => `${k} ${Math.abs(v) < 1e-2 && v !== 0 ? v.toExponential(2) : v.toFixed(3)}`)
    .join('  ');
  const phase = p.phase ? `${p.phase} ` : '';
  return `${phase}[${bar}] ${p.step}/${p.total}  ${values}  ${formatRate(p.unitsPerSecond, p.unit)}  ETA ${formatDuration(p.etaSeconds ?? Infinity)}`;
}

export class ProgressLine {
  private lastPlain = 0;
  private live = false;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly plainEveryMs = 10_000,
  ) {}

  update(p: JobProgress): void {
    const text = progressText(p);
    if (this.stream.isTTY) {
      this.stream.write(`\r\x1b[2K${text}`);
      this.live = true;
    } else if (performance.now() - this.lastPlain > this.plainEveryMs || p.step === p.total) {
      this.stream.write(`${text}\n`);
      this.lastPlain = performance.now();
    }
  }

  /** Prints a message on its own line without breaking the live bar. */
  log(message: string): void {
    this.end();
    this.stream.write(`${message}\n`);
  }

  end(): void {
    if (this.live) this.stream.write('\n');
    this.live = false;
  }
}
