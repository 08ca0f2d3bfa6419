/**
 * The graph out of the app: SVG drawn from the model's own positions (one panel per graph, A/B side by side;
 * concrete colours, so the file looks the same anywhere), and JSON in the spirit of circuit-tracer's graph files
 * (metadata, qParams, nodes, links).
 */
import { THEME } from '../../lib/charts/plot.ts';
import { DIFF_COLOURS, EDGE_COLOUR, edgeOpacity, edgeWidth } from './graphStyle.ts';
import { edgeSource, edgeTarget, nodeText, type Column, type GraphModel } from './graphModel.ts';

export interface GraphPanel {
  title: string;
  subtitle: string;
  model: GraphModel;
  columns: Column[];
  pins: ReadonlySet<string>;
}

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const r2 = (v: number) => Math.round(v * 100) / 100;

function edgeColour(cls: string): string {
  for (const k of ['onlyA', 'onlyB', 'shared', 'unmatched'] as const)
    if (cls.includes(k)) return DIFF_COLOURS[k];
  return EDGE_COLOUR;
}

/** One panel's SVG body at (ox, oy), and its size. */
function panel(p: GraphPanel, ox: number, oy: number): { body: string; w: number; h: number } {
  const { nodes, edges } = p.model;
  const xs = nodes.map((n) => n.x);
  const ys = nodes.map((n) => n.y);
  const minX = nodes.length ? Math.min(...xs) : 0;
  const maxX = nodes.length ? Math.max(...xs) : 0;
  const maxY = nodes.length ? Math.max(...ys) : 0;
  const pad = 24;
  const head = 46;
  const labelRoom = nodes.length <= 400 ? 120 : 20;
  const w = maxX - minX + 2 * pad + labelRoom;
  const h = maxY + head + 2 * pad;
  const X = (x: number) => r2(ox + pad + x - minX);
  const Y = (y: number) => r2(oy + head + pad + y);
  const pos = new Map(nodes.map((n) => [n.key, n]));
  const out: string[] = [];
  out.push(
    `<text x="${ox + pad}" y="${oy + 16}" font-size="13" font-weight="600" fill="${THEME.text}">${esc(p.title)}</text>`,
    `<text x="${ox + pad}" y="${oy + 31}" font-size="10" fill="${THEME.muted}">${esc(p.subtitle)}</text>`,
  );
  // Column headings above the first node of each column.
  p.columns.forEach((c, k) => {
    const first = nodes.filter((n) => n.col === k);
    if (!first.length) return;
    const x = Math.min(...first.map((n) => n.x));
    out.push(
      `<text x="${X(x)}" y="${oy + head + 4}" font-size="10" fill="${THEME.muted}">${esc(c.hook)}</text>`,
    );
  });
  out.push('<g stroke-linecap="round">');
  for (const e of [...edges].sort((a, b) => b.rank - a.rank)) {
    const s = pos.get(edgeSource(e));
    const t = pos.get(edgeTarget(e));
    if (!s || !t) continue;
    const dash = e.cls.includes('unmatched') ? ' stroke-dasharray="4 3"' : '';
    out.push(
      `<line x1="${X(s.x)}" y1="${Y(s.y)}" x2="${X(t.x)}" y2="${Y(t.y)}" stroke="${edgeColour(e.cls)}" stroke-width="${r2(edgeWidth(e.rel))}" stroke-opacity="${r2(edgeOpacity(e.rel))}"${dash}/>`,
    );
  }
  out.push('</g><g>');
  for (const n of nodes) {
    const pinned = p.pins.has(n.key);
    const unmatched = n.cls.includes('unmatched');
    const stroke = pinned ? THEME.text : unmatched ? THEME.muted : '#ffffff';
    const extra = unmatched ? ' stroke-dasharray="3 2" fill-opacity="0.45"' : '';
    out.push(
      `<circle cx="${X(n.x)}" cy="${Y(n.y)}" r="${r2(n.size / 2)}" fill="${n.color}" stroke="${stroke}" stroke-width="${pinned ? 3 : unmatched ? 2 : 1}"${extra}><title>${esc(`${p.columns[n.col]?.hook ?? ''} #${n.latent}${n.info?.label ? ` — ${n.info.label}` : ''}`)}</title></circle>`,
    );
    if (nodes.length <= 400)
      out.push(
        `<text x="${r2(X(n.x) + n.size / 2 + 3)}" y="${r2(Y(n.y) + 3)}" font-size="9" fill="${THEME.text}">${esc(nodeText(n))}</text>`,
      );
  }
  out.push('</g>');
  return { body: out.join('\n'), w, h };
}

/** The graphs as one SVG document, panels side by side. */
export function graphSvg(panels: GraphPanel[]): string {
  let x = 0;
  let h = 0;
  const bodies: string[] = [];
  for (const p of panels) {
    const part = panel(p, x, 0);
    bodies.push(part.body);
    x += part.w + 20;
    h = Math.max(h, part.h);
  }
  const w = Math.max(200, Math.round(x - 20));
  h = Math.max(120, Math.round(h));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="${esc(THEME.font)}">`,
    `<rect width="${w}" height="${h}" fill="#ffffff"/>`,
    ...bodies,
    '</svg>',
  ].join('\n');
}

export interface GraphJsonInput {
  metadata: Record<string, unknown>;
  qParams: Record<string, unknown>;
  model: GraphModel;
  columns: Column[];
  pins: ReadonlySet<string>;
  pairs: string[];
}

/** Nodes and links as circuit-tracer's graph files name them (node_id, feature, layer, clerp; source, target, weight). */
export function graphJson(g: GraphJsonInput): Record<string, unknown> {
  return {
    metadata: { schema: 'scalar-workstation/circuit-graph@1', ...g.metadata },
    qParams: { ...g.qParams, pinnedIds: [...g.pins] },
    nodes: g.model.nodes.map((n) => ({
      node_id: n.key,
      jsNodeId: n.key,
      feature: n.latent,
      layer: g.columns[n.col]?.hook ?? null,
      position: n.col,
      sae_run: g.columns[n.col]?.run ?? null,
      clerp: n.info?.label ?? '',
      activation_frequency: n.info?.freq ?? null,
      max_activation: n.info?.maxAct ?? null,
      chunk: n.info?.chunk ?? null,
      top_tokens: n.info?.topTokens ?? [],
      first_edge_rank: Number.isFinite(n.order) ? n.order : null,
      pinned: g.pins.has(n.key),
      ...(n.cls ? { mark: n.cls } : {}),
    })),
    links: g.model.edges.map((e) => ({
      source: edgeSource(e),
      target: edgeTarget(e),
      weight: e.score,
      rank: e.rank,
      pair: g.pairs[e.pair] ?? null,
      ...(e.cls ? { diff: e.cls } : {}),
    })),
  };
}
