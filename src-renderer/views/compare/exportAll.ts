/**
 * "Export all": the comparison as one zip — the same files `scalar report` writes (figures as SVG and PNG at 2×,
 * the data behind each as CSV and JSON, tables as CSV and LaTeX, comparison.json), built in the browser.
 */
import { strToU8, zipSync } from 'fflate';
import {
  collectComparison,
  comparisonFigures,
  figureFile,
  REPORT_FIGURE_WIDTH,
  reportTextFiles,
} from '../../../src-shared/compare/report.ts';
import { svgText } from '../../../src-shared/figures/dom.ts';
import type { ApiClient } from '../../lib/api.ts';
import { download, pngBlob } from '../../lib/charts/export.ts';

export async function exportAll(
  api: ApiClient,
  ids: string[],
  baseline: string | null,
  resamples: number | null,
  onProgress?: (done: number, total: number) => void,
): Promise<{ file: string; files: number; bytes: number }> {
  const data = await collectComparison((m, p) => api.call(m, p), ids, {
    baseline,
    resamples: resamples ?? undefined,
  });
  const figures = comparisonFigures(data);
  const files: Record<string, Uint8Array> = {};
  for (const [i, f] of figures.entries()) {
    onProgress?.(i, figures.length);
    const svg = f.build(document, REPORT_FIGURE_WIDTH);
    files[figureFile(f.name, 'svg')] = strToU8(svgText(svg));
    files[figureFile(f.name, 'png')] = new Uint8Array(await (await pngBlob(svg, 2)).arrayBuffer());
  }
  for (const t of reportTextFiles(data, figures)) files[t.path] = strToU8(t.text);
  const zip = zipSync(files, { level: 6 });
  const stamp = new Date().toISOString().slice(0, 16).replace(/[-:]/g, '').replace('T', '-');
  const file = `comparison-${ids.length}-runs-${stamp}.zip`;
  download(new Blob([zip as BlobPart], { type: 'application/zip' }), file);
  return { file, files: Object.keys(files).length, bytes: zip.length };
}
