/** The one colour palette of every chart (Okabe–Ito): defined with the shared figure theme. */
export { PALETTE, seriesColor } from '../../../src-shared/figures/theme.ts';
