/** The explorer's export buttons: the graph(s) as SVG, PNG (2×, at most 16k px a side) or JSON, named by run and N. */
import type { DiffCounts } from './abDiff.ts';
import { stateParams, type CircuitState } from './circuitUrl.ts';
import type { KlReading } from './curve.ts';
import { download, downloadText, svgDocumentToPng } from '../../lib/charts/export.ts';
import { graphJson, graphSvg, type GraphPanel } from './graphExport.ts';
import type { GraphModel } from './graphModel.ts';
import type { PairView } from './pairView.svelte.ts';

interface Side {
  view: PairView;
  model: GraphModel;
  name: string;
  reading: KlReading | null;
  /** Edges of the budget in the graph (the top min(N, cap)). */
  drawn: number;
}

export interface ExportContext {
  st: CircuitState;
  n: number;
  nB: number;
  pairs: string[];
  a: Side;
  b: Side | null;
  counts: DiffCounts | null;
}

const kl = (r: KlReading | null) =>
  r
    ? `KL ${r.mean.toPrecision(4)}${r.lo !== null && r.hi !== null ? ` [${r.lo.toPrecision(3)}, ${r.hi.toPrecision(3)}]` : ''}`
    : 'KL —';

function fileName(ctx: ExportContext, ext: string): string {
  const stem = `circuit-${ctx.a.view.run}${ctx.b ? `-vs-${ctx.b.view.run}` : ''}-${ctx.pairs.join('+')}-N${ctx.n}`;
  return `${stem.replace(/[^\w.+-]+/g, '-')}.${ext}`;
}

function panels(ctx: ExportContext): GraphPanel[] {
  const side = (s: Side, tag: string, n: number): GraphPanel => ({
    title: `${tag}${s.name} · ${ctx.pairs.join(' → ')}`,
    subtitle: `N = ${n.toLocaleString('en-US')} edges · ${kl(s.reading)} · ${drawnNote(s, n)}${s.model.nodes.length} latents`,
    model: s.model,
    columns: s.view.columns,
    pins: ctx.st.pins,
  });
  return ctx.b ? [side(ctx.a, 'A: ', ctx.n), side(ctx.b, 'B: ', ctx.nB)] : [side(ctx.a, '', ctx.n)];
}

/** The graph holds the top `drawn` edges of the budget (drawCap.ts); said when that is fewer than N. */
const drawnNote = (s: Side, n: number) =>
  s.drawn < n ? `top ${s.drawn.toLocaleString('en-US')} drawn · ` : '';

function sideMeta(s: Side, n: number) {
  return {
    scalar_run: s.view.run,
    run_name: s.name,
    sae_run: s.view.saeRun,
    hooks: s.view.columns.map((c) => c.hook),
    budget_n: n,
    drawn_edges: s.drawn,
    kl: s.reading,
    stored_edges: s.view.curves.map((c) => c.storedEdges),
    full_edges: s.view.curves.map((c) => c.fullEdges),
  };
}

export async function exportGraphs(kind: 'svg' | 'png' | 'json', ctx: ExportContext): Promise<void> {
  if (kind === 'json') {
    const qParams = { ...stateParams(ctx.st), n: ctx.n };
    const one = (s: Side, n: number) =>
      graphJson({
        metadata: { ...sideMeta(s, n), pairs: ctx.pairs, generated_at: new Date().toISOString() },
        qParams,
        model: s.model,
        columns: s.view.columns,
        pins: ctx.st.pins,
        pairs: ctx.pairs,
      });
    const doc = ctx.b
      ? {
          metadata: { schema: 'scalar-workstation/circuit-ab@1', sync: ctx.st.sync, diff: ctx.counts },
          qParams,
          a: one(ctx.a, ctx.n),
          b: one(ctx.b, ctx.nB),
        }
      : one(ctx.a, ctx.n);
    downloadText(`${JSON.stringify(doc, null, 1)}\n`, fileName(ctx, 'json'), 'application/json');
    return;
  }
  const svg = graphSvg(panels(ctx));
  if (kind === 'svg') return downloadText(svg, fileName(ctx, 'svg'), 'image/svg+xml');
  const w = Number(/width="(\d+)"/.exec(svg)?.[1] ?? 800);
  const h = Number(/height="(\d+)"/.exec(svg)?.[1] ?? 600);
  const scale = Math.max(0.25, Math.min(2, 16_000 / w, 16_000 / h));
  download(await svgDocumentToPng(svg, scale), fileName(ctx, 'png'));
}
