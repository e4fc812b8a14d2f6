import type { Request } from 'express';

import { InputError } from '../common/errors';

/** What a list filter may be: longer values match nothing a name or prefix could be. */
const MAX_FILTER = 128;

/**
 * A query parameter as one string, or undefined when absent or given as a list or object
 * (`?a=1&a=2`, `?a[b]=1`): a handler never stringifies what express parsed into something else.
 */
export function queryText(req: Request, name: string): string | undefined {
  const value = req.query[name];
  return typeof value === 'string' ? value : undefined;
}

/** A list filter: a non-empty string cut to 128 characters, else undefined (no filter). */
export function queryFilter(req: Request, name: string): string | undefined {
  const value = queryText(req, name);
  return value ? value.slice(0, MAX_FILTER) : undefined;
}

/** `?limit=` as a whole number in 1..max (100 when absent); anything else is INVALID_INPUT. */
export function queryLimit(req: Request, max = 1000): number {
  const raw = req.query['limit'];
  const n = raw === undefined ? 100 : Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new InputError(`limit must be 1..${max}`);
  return n;
}
