/**
 * The one figure library of the workstation. Every chart in the app (src-renderer/lib/charts wraps these) and in
 * the CLI's reports (`scalar report`, the pipeline's report; rendered in Node by src-main/figures/render.ts with
 * linkedom and resvg) is built here, from data to an Observable Plot figure, given a `document`: the browser's or
 * linkedom's. No hand-written axes, ticks or legends: Plot draws them.
 *
 * Dependencies: src-shared holds contracts and imports nothing at run time but zod — and `@observablehq/plot`
 * here, the one other runtime dependency allowed in src-shared, because a figure is a contract of what a result
 * looks like: the same data gives the same figure in the app, in an exported file and in a CLI report. Nothing
 * here touches the DOM except through the `document` it is given.
 */
export * from './charts.ts';
export * from './dom.ts';
export * from './legend.ts';
export * from './line.ts';
export * from './theme.ts';
export * from './validation.ts';
