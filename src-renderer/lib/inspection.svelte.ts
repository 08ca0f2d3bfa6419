/**
 * A main-side inspection of a typed value (a model path, a text set), asked for once typing pauses. Answers to
 * an earlier value are dropped, so what is shown always belongs to what the field holds now.
 */
export class Inspection<T> {
  /** The latest answer and the value it is about. */
  current = $state<{ key: string; value: T } | null>(null);
  pending = $state(false);

  /** Must be constructed while a component initialises (it owns an effect). */
  constructor(
    key: () => string,
    load: (key: string) => Promise<T>,
    failed: (message: string) => T,
    delayMs = 300,
  ) {
    $effect(() => {
      const k = key();
      if (!k) {
        this.current = null;
        this.pending = false;
        return;
      }
      if (this.current?.key === k) {
        this.pending = false;
        return;
      }
      this.pending = true;
      let live = true;
      const timer = setTimeout(() => {
        load(k)
          .catch((err: unknown) => failed(err instanceof Error ? err.message : String(err)))
          .then((value) => {
            if (!live) return;
            this.current = { key: k, value };
            this.pending = false;
          });
      }, delayMs);
      return () => {
        live = false;
        clearTimeout(timer);
      };
    });
  }

  /** The answer when it is about `key` (null while that one is still being asked). */
  about(key: string): T | null {
    return this.current?.key === key ? this.current.value : null;
  }
}
