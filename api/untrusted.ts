import { json, raw, type Request, type RequestHandler } from 'express';

import { InputError } from '../common/errors';
import { unstorableIn } from '../common/validation';

/**
 * S-18: the one edge check for text the fleet store (or a log line) cannot hold. Every
 * string a request brings is checked before any route acts on it: the URL's path segments
 * and query values by `refuseUnstorableUrl` (mounted before the routes), each parsed JSON
 * body, keys included, by `jsonBody` (the only JSON parser the routes use). A refusal is
 * 400 INVALID_INPUT naming the field, so nothing is half-stored and nothing answers 500.
 * Headers need no check here: Node's HTTP parser refuses NUL and other control bytes in
 * them (400) before express sees the request, and they cannot carry surrogates (latin1).
 */

/** Deeper than any body or query the API takes (attestation evidence, the deepest, has 3 levels). */
const MAX_DEPTH = 16;
/** Field names come from the request: the message keeps only this much of one. */
const MAX_FIELD_CHARS = 100;

interface Finding {
  field: string;
  what: string;
}

/** The first string or key in `value` the store could not hold, with where it is; undefined when all are fine. */
export function findUnstorable(value: unknown, at: string, depth = 0): Finding | undefined {
  if (typeof value === 'string') {
    const what = unstorableIn(value);
    return what === undefined ? undefined : { field: at, what };
  }
  if (value === null || typeof value !== 'object') return undefined;
  // A bounded walk: body size limits keep the count of strings small, this keeps the stack small.
  if (depth >= MAX_DEPTH) return { field: at, what: `nesting deeper than ${MAX_DEPTH} levels` };
  const list = Array.isArray(value);
  for (const [key, item] of Object.entries(value)) {
    const field = list ? `${at}[${key}]` : `${at}.${key}`;
    const inKey = list ? undefined : unstorableIn(key);
    if (inKey !== undefined) return { field: `a key in ${at}`, what: inKey };
    const found = findUnstorable(item, field, depth + 1);
    if (found) return found;
  }
  return undefined;
}

function refuse(value: unknown, at: string): void {
  const found = findUnstorable(value, at);
  if (found) {
    const field = found.field.length > MAX_FIELD_CHARS ? `${found.field.slice(0, MAX_FIELD_CHARS)}…` : found.field;
    throw new InputError(`${field} holds ${found.what}, which the server does not store: send it without`);
  }
}

/** Path segments (each as express decodes a path parameter) and query values, array and repeated ones included. */
export const refuseUnstorableUrl: RequestHandler = (req, _res, next) => {
  const segments = req.path.split('/');
  for (let i = 1; i < segments.length; i++) {
    let text: string;
    try {
      text = decodeURIComponent(segments[i]!);
    } catch {
      throw new InputError(`path segment ${i} is not valid percent-encoded UTF-8`);
    }
    refuse(text, `path segment ${i}`);
  }
  refuse(req.query, 'query');
  next();
};

/** express.json with the edge check on everything it parsed: use it for every JSON body. */
export function jsonBody(limit: number): RequestHandler {
  const parse = json({ limit });
  return (req, res, next) => {
    parse(req, res, (err?: unknown) => {
      if (err) return next(err);
      try {
        refuse(req.body, 'body');
      } catch (refusal) {
        return next(refusal);
      }
      next();
    });
  };
}

/**
 * One field of a parsed JSON body that no schema has checked (yet): unknown until the caller
 * narrows it. For handlers that must read a field before, or instead of, schema validation.
 */
export function bodyField(req: Request, name: string): unknown {
  const body: unknown = req.body;
  return typeof body === 'object' && body !== null && !Array.isArray(body)
    ? (body as Record<string, unknown>)[name]
    : undefined;
}

/**
 * A JSON document kept as the bytes it came in (an SBOM is signed by its digest, so it must
 * not be re-serialized): `req.body` is a Buffer of at most `limit` bytes. Its strings are
 * checked where they are read (supplychain/documents.ts), not here: a document may be deeper
 * than any request body and hold text that is never stored.
 */
export function rawJsonBody(limit: number): RequestHandler {
  const read = raw({ limit, type: 'application/json' });
  return (req, res, next) => {
    if (!req.is('application/json')) return next(new InputError('send the document as application/json'));
    read(req, res, next);
  };
}
