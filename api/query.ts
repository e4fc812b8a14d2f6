import type { Request } from 'express';

/**
 * A query parameter as one string, or undefined when absent or given as a list or object
 * (`?a=1&a=2`, `?a[b]=1`): a handler never stringifies what express parsed into something else.
 */
export function queryText(req: Request, name: string): string | undefined {
  const value = req.query[name];
  return typeof value === 'string' ? value : undefined;
}
