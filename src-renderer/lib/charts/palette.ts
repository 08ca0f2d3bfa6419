/**
 * The one colour palette of every chart: Okabe–Ito (Okabe & Ito 2008), distinguishable under the common forms of
 * colour-vision deficiency. Ordered for lines on a white background (the pale yellow comes last); black is
 * replaced by a neutral grey so it does not read as an axis.
 */
export const PALETTE = [
  '#0072B2', // blue
  '#D55E00', // vermillion
  '#009E73', // bluish green
  '#CC79A7', // reddish purple
  '#E69F00', // orange
  '#56B4E9', // sky blue
  '#5F6B7A', // grey (in place of black)
  '#C9B400', // yellow, darkened to be legible on white
] as const;

/** The colour of the i-th series; wraps around after the palette's eight colours. */
export function seriesColor(index: number): string {
  return PALETTE[((index % PALETTE.length) + PALETTE.length) % PALETTE.length];
}
