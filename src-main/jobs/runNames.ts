/**
 * Names for runs started without one, so every row of the run table reads as something: the CLI and the
 * forms name their runs the same way (`quick s0`, `topk tblock s0`, `SCALAR topk tblock s0`).
 */
import type { JobSpec } from '../../src-shared/jobs.ts';
import type { Store } from '../store/index.ts';

export function defaultRunName(spec: JobSpec, store: Store): string {
  switch (spec.kind) {
    case 'train-lm':
      return `${spec.config.preset} s${spec.config.seed}`;
    case 'train-sae':
      return `${spec.config.arch} ${spec.config.setup} s${spec.config.seed}`;
    case 'import-sae':
      return `imported ${spec.config.arch} ${spec.config.setup}`;
    case 'scalar': {
      const sae = store.getRun(spec.config.sae);
      return `SCALAR ${sae?.name || spec.config.sae}`;
    }
    case 'validate-ranking':
      return `validate-ranking ${spec.config.preset} ×${spec.config.seeds} s${spec.config.seed}`;
    default: {
      const sae = (spec.config as { sae?: unknown }).sae;
      const parent = typeof sae === 'string' ? store.getRun(sae) : undefined;
      return parent ? `${spec.kind} ${parent.name || parent.id}` : spec.kind;
    }
  }
}
