/**
 * The table's selection: run ids kept across pages and filters (with what the delete dialog lists about each),
 * ticked one by one, a whole page at once, or as a shift-click range within the page.
 */
import { SvelteMap } from 'svelte/reactivity';
import type { RunSummary } from '../../../src-shared/api.ts';
import type { RunRef } from '../../../src-shared/runs.ts';

export class RunSelection {
  readonly runs = new SvelteMap<string, RunRef>();
  /** Index in the page of the last ticked row (the anchor of a shift-click range). */
  private anchor: number | null = null;

  get size(): number {
    return this.runs.size;
  }
  get ids(): string[] {
    return [...this.runs.keys()];
  }
  get refs(): RunRef[] {
    return [...this.runs.values()];
  }
  has(id: string): boolean {
    return this.runs.has(id);
  }

  set(run: RunSummary, on: boolean): void {
    if (on) this.runs.set(run.id, { id: run.id, kind: run.kind, name: run.name, status: run.status });
    else this.runs.delete(run.id);
  }

  /** A row's box clicked: with shift, every row between it and the last one clicked takes its new state. */
  toggle(rows: RunSummary[], index: number, shift: boolean): void {
    const run = rows[index];
    if (!run) return;
    const on = !this.has(run.id);
    if (shift && this.anchor !== null && this.anchor < rows.length) {
      const [a, b] = this.anchor < index ? [this.anchor, index] : [index, this.anchor];
      for (let i = a; i <= b; i++) this.set(rows[i], on);
    } else this.set(run, on);
    this.anchor = index;
  }

  setPage(rows: RunSummary[], on: boolean): void {
    for (const run of rows) this.set(run, on);
    this.anchor = null;
  }

  /** Keeps a selected run's name and status current after it changed. */
  refresh(run: RunSummary): void {
    if (this.has(run.id)) this.set(run, true);
  }

  remove(ids: string[]): void {
    for (const id of ids) this.runs.delete(id);
  }

  clear(): void {
    this.runs.clear();
    this.anchor = null;
  }
}
