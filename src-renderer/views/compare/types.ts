/** State shared by the compare page's sections. */
import type { ScalarComparison } from '../../../src-shared/compare/api.ts';

export interface ComparisonState {
  run: string;
  baseline: string;
  /** Paired-bootstrap resamples asked for. */
  resamples: number;
  result: ScalarComparison | null;
  error: string | null;
}
