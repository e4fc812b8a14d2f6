import { type RequestHandler, type Response, Router } from 'express';

import type { Operator, SessionInfo } from '../common/adminApi';
import { ServerError } from '../common/errors';
import type { AuditLog } from '../infra/auditLog';
import type { Operators } from '../infra/operators';
import type { Sessions } from '../infra/sessions';
import { cookieOf, SESSION_COOKIE } from './auth';
import { GRANTS, type Permission } from './permissions';
import type { RefusalGate } from './refusalGate';
import { withBody } from './requestBodies';
import { jsonBody } from './untrusted';

export interface SessionRouteDeps {
  operators: Operators;
  sessions: Sessions;
  audit: AuditLog;
  gate: RefusalGate;
  sessionTtlMs: number;
  guard: (permission: Permission) => RequestHandler;
}

/**
 * Dashboard sign-in: an operator trades their token for a session cookie (HttpOnly, Secure,
 * SameSite=Strict, `__Host-`), so the token never stays in the browser. The session then
 * authenticates the admin API exactly as the token would (api/auth.ts), with CSRF checks.
 */
export function sessionRoutes(deps: SessionRouteDeps): Router {
  const r = Router();
  const body = jsonBody(1024);
  const info = (operator: Operator, csrfToken: string, expiresAt: string): SessionInfo => ({
    operator,
    permissions: [...new Set(operator.roles.flatMap((role) => GRANTS[role] ?? []))],
    csrfToken,
    expiresAt,
  });

  // S-30: a source past its allowance of unknown tokens is answered 429 before its token is looked at.
  r.post(
    '/v1/session',
    deps.gate.admit('session.signin'),
    body,
    withBody('SignIn', async ({ token }, _req, res) => {
      const operator = await deps.operators.authenticate(token);
      if (!operator) {
        await deps.gate.refused(res, {
          actor: 'anonymous',
          action: 'session.signin',
          subject: 'dashboard',
          outcome: 'refused',
          detail: 'unknown or revoked token',
        });
        throw new ServerError('UNAUTHENTICATED', 'unknown or revoked operator token');
      }
      deps.gate.accept(res);
      // S-15: the entry first, so no session exists without one (it stays pending if the rest fails).
      const signin = { actor: operator.name, action: 'session.signin', subject: 'dashboard' };
      const entry = await deps.audit.begin(signin);
      const { id, session } = await deps.sessions.create(operator, deps.sessionTtlMs);
      await deps.audit.complete(entry, { ...signin, outcome: 'ok', detail: `until ${session.expiresAt}` });
      setCookie(res, id, Math.floor(deps.sessionTtlMs / 1000));
      res.status(201).json(info(operator, session.csrfToken, session.expiresAt));
    }),
  );

  r.get('/v1/session', async (req, res) => {
    const session = await deps.sessions.authenticate(cookieOf(req, SESSION_COOKIE) ?? '');
    if (!session) throw new ServerError('UNAUTHENTICATED', 'not signed in');
    res.json(info(session.operator, session.csrfToken, session.expiresAt));
  });

  // Sign-out is a change: the guard wants the session's CSRF token, then the session ends
  // in the store (every replica refuses it from now on) and the cookie is cleared.
  r.delete('/v1/session', deps.guard('read'), async (req, res) => {
    res.locals['audit'] = { action: 'session.signout', subject: 'dashboard' };
    await deps.sessions.end(cookieOf(req, SESSION_COOKIE) ?? '');
    setCookie(res, '', 0);
    res.status(204).end();
  });
  return r;
}

function setCookie(res: Response, value: string, maxAgeS: number): void {
  res.setHeader(
    'set-cookie',
    `${SESSION_COOKIE}=${value}; Path=/; Max-Age=${maxAgeS}; HttpOnly; Secure; SameSite=Strict`,
  );
  res.setHeader('cache-control', 'no-store');
}
