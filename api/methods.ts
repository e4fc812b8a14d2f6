import type { RequestHandler, Router } from 'express';

import { ServerError } from '../common/errors';

/** What express 5's router keeps of its layers (its Router type does not show it). */
interface Layer {
  route?: { methods: Record<string, boolean> };
  handle: unknown;
  match(path: string): { path: string } | false;
}

/**
 * The methods the routes answer on a path, read from the routers' own route tables (the
 * app's router and every router mounted at the root), so a new route needs nothing here.
 * A GET route answers HEAD too (express does that).
 */
function methodsFor(router: Router, path: string): Set<string> {
  const methods = new Set<string>();
  const walk = (stack: readonly Layer[]) => {
    for (const layer of stack) {
      const match = layer.match(path);
      if (!match) continue;
      if (layer.route) {
        for (const [m, on] of Object.entries(layer.route.methods)) if (on && m !== '_all') methods.add(m.toUpperCase());
        continue;
      }
      // A router mounted with app.use(router): at the root, so it sees the same path.
      const nested = (layer.handle as { stack?: Layer[] }).stack;
      if (Array.isArray(nested) && match.path === '') walk(nested);
    }
  };
  walk((router as unknown as { stack: Layer[] }).stack);
  if (methods.has('GET')) methods.add('HEAD');
  return methods;
}

/**
 * S-22: the last handler: no route took the request. A path the API serves with other methods is
 * 405 METHOD_NOT_ALLOWED with `Allow` (RFC 9110 15.5.6); any other path is 404 NOT_FOUND.
 */
export function unmatched(router: Router): RequestHandler {
  return (req, res) => {
    const allow = methodsFor(router, req.path);
    if (allow.size > 0) {
      res.setHeader('Allow', [...allow].sort().join(', '));
      throw new ServerError(
        'METHOD_NOT_ALLOWED',
        `${req.method} is not served on ${req.path.slice(0, 200)} (Allow: ${[...allow].sort().join(', ')})`,
      );
    }
    throw new ServerError('NOT_FOUND', `no route ${req.method} ${req.path.slice(0, 200)}`);
  };
}
