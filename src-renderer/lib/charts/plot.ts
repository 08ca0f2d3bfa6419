/**
 * The app's door to the one figure library (src-shared/figures: Observable Plot builders shared with the CLI
 * report): the series shape, the theme, number formats, log ticks and the line chart. Nothing here knows about
 * runs or metrics.
 */
export {
  colouredSeries,
  hasPoints,
  lineFigure,
  linePlot,
  xTicksFor,
  type ChartPoint,
  type ChartSeries,
  type LineOptions,
} from '../../../src-shared/figures/line.ts';
export {
  formatNumber,
  formatPow2,
  formatTick,
  log2Ticks,
  logTicks,
  THEME,
} from '../../../src-shared/figures/theme.ts';
export { withoutStyleElement } from '../../../src-shared/figures/dom.ts';
