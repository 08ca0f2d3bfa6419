/**
 * A Svelte action: caps an element's height so it ends at the bottom of the window, less what sits below it
 * (the table's footer), refitting when the window or the content above / below changes size. The table then
 * scrolls inside itself with its header and name column sticky, and its footer stays in view.
 */
export interface FillWindowOptions {
  above?: HTMLElement;
  below?: HTMLElement;
  /** Never shorter than this many pixels (a short window scrolls the page instead). */
  min?: number;
  /** Room left under `below` (the page's bottom padding). */
  margin?: number;
}

export function fillWindow(node: HTMLElement, options: FillWindowOptions) {
  let opts = options;
  const fit = () => {
    const top = node.getBoundingClientRect().top + window.scrollY;
    const below = opts.below?.offsetHeight ?? 0;
    const height = Math.floor(window.innerHeight - top - below - (opts.margin ?? 20));
    node.style.maxHeight = `${Math.max(opts.min ?? 280, height)}px`;
  };
  const observer = new ResizeObserver(fit);
  const observe = () => {
    observer.disconnect();
    for (const el of [opts.above, opts.below]) if (el) observer.observe(el);
  };
  observe();
  window.addEventListener('resize', fit);
  fit();
  return {
    update(next: FillWindowOptions) {
      opts = next;
      observe();
      fit();
    },
    destroy() {
      observer.disconnect();
      window.removeEventListener('resize', fit);
    },
  };
}
