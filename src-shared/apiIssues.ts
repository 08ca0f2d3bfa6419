/** An Api request's params that failed validation, in words (used by the service and by the transports). */
import type { z } from 'zod';
import { ApiMethods, type ApiMethod } from './api.ts';
import { formatIssues } from './issues.ts';
import { specIssuesText } from './jobBuilders.ts';

/**
 * "option --k must be an integer ≥ 1 (got 2.5)" for a job spec (the words the CLI and the forms use), and
 * "parameter 'limit' must be an integer from 1 to 1000 (got 0)" for any other parameter.
 */
export function paramsIssuesText(method: string, error: z.ZodError, params: unknown): string {
  const spec = (params as { spec?: unknown } | null)?.spec;
  const specIssues = error.issues.filter((i) => i.path[0] === 'spec' && i.path.length > 1);
  const rest = error.issues.filter((i) => !(i.path[0] === 'spec' && i.path.length > 1));
  const parts: string[] = [];
  if (specIssues.length)
    parts.push(
      specIssuesText(
        { issues: specIssues.map((i) => ({ ...i, path: i.path.slice(1) })) } as z.ZodError,
        spec,
      ),
    );
  if (rest.length)
    parts.push(
      formatIssues(rest, {
        schema: Object.hasOwn(ApiMethods, method) ? ApiMethods[method as ApiMethod].params : undefined,
        input: params,
        subject: (p) => `parameter '${p.map(String).join('.')}'`,
        root: `the parameters of ${method}`,
      }),
    );
  return parts.join('; ');
}
