import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { Router } from 'express';

import { ServerError } from '../common/errors';

/** The built dashboard (scripts/buildWeb.ts bundles web/ into dist/web at build time). */
const WEB_DIR = join(__dirname, '..', 'web');
const FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

/**
 * Everything the page may load comes from this origin: scripts and styles from the bundle
 * (no inline code, no CDN), data from the admin API. No framing (clickjacking on approvals).
 */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/**
 * The dashboard's static files, read once at start. Only the names in FILES are served, so
 * no request path ever reaches the file system. Data and actions go through the admin API.
 */
export function dashboardRoutes(): Router {
  // strict: '/dashboard' and '/dashboard/' are different paths (the first redirects to the second).
  const r = Router({ strict: true });
  const cache = new Map<string, Buffer>();
  for (const name of Object.keys(FILES)) {
    try {
      cache.set(name, readFileSync(join(WEB_DIR, name)));
    } catch {
      // Not built: the API still serves devices and the CLI; the dashboard answers 503.
    }
  }
  r.get('/', (_req, res) => res.redirect(302, '/dashboard/'));
  r.get('/dashboard', (_req, res) => res.redirect(301, '/dashboard/'));
  r.get(['/dashboard/', '/dashboard/:file'], (req, res) => {
    const name = String(req.params['file'] ?? 'index.html');
    const type = FILES[name];
    if (!type) throw new ServerError('NOT_FOUND', `no dashboard file ${name.slice(0, 100)}`);
    const bytes = cache.get(name);
    if (!bytes) throw new ServerError('UNAVAILABLE', 'the dashboard is not built (npm run build)');
    res.setHeader('content-type', type);
    res.setHeader('content-security-policy', CSP);
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('x-frame-options', 'DENY');
    res.setHeader('referrer-policy', 'no-referrer');
    res.setHeader('cache-control', 'no-cache');
    res.send(bytes);
  });
  return r;
}
