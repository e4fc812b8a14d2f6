import type { Request } from 'express';

import { InputError } from '../common/errors';
import type { ReleaseRef } from '../control/releases';

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

/** A whole number in min..max, `fallback` when absent; anything else (a list, "1e3", "-1") is INVALID_INPUT. */
export function queryInteger(
  req: Request,
  name: string,
  range: { fallback: number; min: number; max: number },
): number {
  const raw = req.query[name];
  if (raw === undefined) return range.fallback;
  const n = typeof raw === 'string' && /^[0-9]{1,10}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= range.min && n <= range.max)) throw new InputError(`${name} must be ${range.min}..${range.max}`);
  return n;
}

/** `?limit=` of a list: 1..max, 100 when absent. */
export function queryLimit(req: Request, max = 1000): number {
  return queryInteger(req, 'limit', { fallback: 100, min: 1, max });
}

/** The release a route's path names (`:channel/:version`). */
export function releaseOf(req: Request): ReleaseRef {
  return { channel: String(req.params['channel']), version: String(req.params['version']) };
}
