/** Step / rate / ETA bookkeeping shared by every long computation (training, attribution, ablation). */

export interface Progress {
  step: number;
  total: number;
  /** Steps per second over the recent window. */
  stepsPerSecond: number;
  /** Work units (e.g. tokens) per second over the recent window, when the caller counts units. */
  unitsPerSecond: number;
  elapsedSeconds: number;
  etaSeconds: number;
}

export class ProgressMeter {
  private readonly t0 = performance.now();
  private readonly window: { t: number; step: number; units: number }[] = [];
  private units = 0;

  constructor(
    readonly total: number,
    readonly startStep = 0,
    private readonly windowSize = 20,
  ) {
    this.window.push({ t: this.t0, step: startStep, units: 0 });
  }

  tick(step: number, units = 0): Progress {
    this.units += units;
    const now = performance.now();
    this.window.push({ t: now, step, units: this.units });
    if (this.window.length > this.windowSize + 1) this.window.shift();
    const first = this.window[0];
    const dt = Math.max(1e-9, (now - first.t) / 1000);
    const stepsPerSecond = (step - first.step) / dt;
    return {
      step,
      total: this.total,
      stepsPerSecond,
      unitsPerSecond: (this.units - first.units) / dt,
      elapsedSeconds: (now - this.t0) / 1000,
      etaSeconds: stepsPerSecond > 0 ? (this.total - step) / stepsPerSecond : Infinity,
    };
  }

  /** Mean steps per second since the meter started. */
  rate(): number {
    const last = this.window[this.window.length - 1];
    const dt = (last.t - this.t0) / 1000;
    return dt > 0 ? (last.step - this.startStep) / dt : 0;
  }
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0
    ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`
    : `${m}:${String(sec).padStart(2, '0')}`;
}
