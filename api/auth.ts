import { timingSafeEqual } from 'node:crypto';
import type { TLSSocket } from 'node:tls';

import type { NextFunction, Request, RequestHandler, Response } from 'express';

import type { AuditEntry, DeviceRecord, Operator } from '../common/adminApi';
import { ServerError } from '../common/errors';
import type { AuditLog } from '../infra/auditLog';
import type { Devices } from '../infra/devices';
import type { Operators } from '../infra/operators';
import type { Sessions } from '../infra/sessions';
import { logRequestFailure } from './observability';
import { allowed, type Permission } from './permissions';
import type { RefusalGate } from './refusalGate';
import { sourceOf } from './refusalLimiter';

/** What a handler may put in `res.locals.audit`; the audit hook records it with the outcome. */
export interface AuditNote {
  action: string;
  subject: string;
  reason?: string;
  detail?: string;
}

export function operatorOf(res: Response): Operator {
  return res.locals['operator'] as Operator;
}

export function deviceOf(res: Response): DeviceRecord {
  return res.locals['device'] as DeviceRecord;
}

/** The fleet-CA certificate (DER) the device presented on this connection (after `deviceAuth`). */
export function deviceCertificateOf(res: Response): Buffer {
  return res.locals['deviceCertificate'] as Buffer;
}

/** The dashboard's session cookie: `__Host-` binds it to this origin, HTTPS and path /. */
export const SESSION_COOKIE = '__Host-ota_session';
const CSRF_HEADER = 'x-csrf-token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Admin requests: a bearer token (the CLI, scripts) or a dashboard session cookie names the
 * operator, and the route's permission decides; both are the same operator with the same
 * roles. Every request that is not a plain read is in the audit log, refused and failed ones
 * included, with the operator (or "anonymous") and the handler's note. A change is also an
 * attempt at the refusal gate until its credential names an operator (S-30): one whose
 * credential names nobody counts against its source, and its entry is one of the budget's.
 */
export interface AdminAuthDeps {
  operators: Operators;
  audit: AuditLog;
  sessions: Sessions;
  gate: RefusalGate;
}

export function adminAuth({
  operators,
  audit,
  sessions,
  gate,
}: AdminAuthDeps): (permission: Permission) => RequestHandler {
  return (permission) => (req, res, next) => {
    const changes = req.method !== 'GET';
    if (changes) {
      const limited = gate.refuseOrTrack(res, { source: sourceOf(req.socket.remoteAddress), action: 'admin' });
      if (limited) return next(limited);
    }
    let auditDown = false;
    authenticate(req, res, { operators, sessions })
      .then(async (operator) => {
        gate.accept(res);
        res.locals['operator'] = operator;
        if (!allowed(operator.roles, permission)) {
          throw new ServerError('FORBIDDEN', `${operator.name} (${operator.roles.join(', ')}) may not ${permission}`);
        }
        if (!changes) return;
        // S-15: the entry is written before the handler runs and completed when the answer is
        // sent, so no change takes effect without one; if it cannot be written, nothing runs.
        const id = await audit
          .begin({ actor: operator.name, action: defaultAction(req), subject: req.path })
          .catch((err: unknown) => {
            auditDown = true;
            throw new ServerError(
              'UNAVAILABLE',
              'the audit log cannot be written, so nothing was changed: try again later',
              { cause: err },
            );
          });
        res.on(
          'finish',
          () =>
            void audit
              .complete(id, entryOf(req, res))
              .catch((err: unknown) =>
                logRequestFailure(res, err, 'audit entry left pending: its outcome could not be written'),
              ),
        );
      })
      .then(
        () => next(),
        (err: unknown) => {
          // Only a credential that names nobody uses up the source's allowance.
          if (!isUnauthenticated(err)) gate.accept(res);
          if (changes && !auditDown) auditRefused(req, res, { audit, gate, err });
          next(err);
        },
      );
  };
}

/**
 * A change refused before its handler ran (nothing changed): one entry, written with the
 * answer, unless it is an unknown credential's beyond the budget of entries (then it is in
 * the next summary, S-30).
 */
function auditRefused(
  req: Request,
  res: Response,
  { audit, gate, err }: { audit: AuditLog; gate: RefusalGate; err: unknown },
): void {
  if (isUnauthenticated(err) && !gate.mayRecord(res)) return;
  res.on(
    'finish',
    () =>
      void audit
        .record(entryOf(req, res))
        .catch((e: unknown) => logRequestFailure(res, e, 'audit log write failed for a refused request')),
  );
}

function isUnauthenticated(err: unknown): boolean {
  return err instanceof ServerError && err.code === 'UNAUTHENTICATED';
}

/**
 * The operator a request comes from: a bearer token, or a dashboard session cookie (with its CSRF
 * checks on a change).
 */
async function authenticate(
  req: Request,
  res: Response,
  { operators, sessions }: { operators: Operators; sessions: Sessions },
): Promise<Operator> {
  const header = req.header('authorization');
  if (header !== undefined) {
    const token = /^Bearer ([A-Za-z0-9_-]{10,200})$/.exec(header)?.[1];
    const operator = token && (await operators.authenticate(token));
    if (!operator)
      throw new ServerError(
        'UNAUTHENTICATED',
        token ? 'unknown or revoked operator token' : 'send Authorization: Bearer <operator token>',
      );
    return operator;
  }
  const id = cookieOf(req, SESSION_COOKIE);
  if (id === undefined)
    throw new ServerError(
      'UNAUTHENTICATED',
      'send Authorization: Bearer <operator token> (OTA_TOKEN for the CLI), or sign in to the dashboard',
    );
  const session = await sessions.authenticate(id);
  if (!session)
    throw new ServerError(
      'UNAUTHENTICATED',
      'the dashboard session ended, expired or its operator was revoked: sign in again',
    );
  // S-17: a browser sends the cookie with any request to this origin; a change also needs
  // the session's CSRF token (which another site cannot read) and, when the browser says
  // where the request comes from, this origin.
  if (!SAFE_METHODS.has(req.method)) {
    res.locals['operator'] = session.operator;
    checkCsrf(req, session.csrfToken);
  }
  return session.operator;
}

function checkCsrf(req: Request, expected: string): void {
  const sent = req.header(CSRF_HEADER) ?? '';
  const same = sent.length === expected.length && timingSafeEqual(Buffer.from(sent), Buffer.from(expected));
  if (!same)
    throw new ServerError('CSRF_REFUSED', `a change from the dashboard needs the session's ${CSRF_HEADER} header`);
  const origin = req.header('origin');
  if (origin !== undefined && origin !== `https://${req.header('host') ?? ''}`)
    throw new ServerError('CSRF_REFUSED', `requests from ${origin.slice(0, 100)} may not change anything here`);
  const site = req.header('sec-fetch-site');
  if (site !== undefined && site !== 'same-origin')
    throw new ServerError('CSRF_REFUSED', `a ${site.slice(0, 20)} request may not change anything here`);
}

/** One cookie's value from the Cookie header (no library: the API reads exactly one cookie). */
export function cookieOf(req: Request, name: string): string | undefined {
  const header = req.header('cookie');
  if (!header || header.length > 8192) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function defaultAction(req: Request): string {
  return `${req.method} ${(req.route as { path?: string } | undefined)?.path ?? req.path}`.slice(0, 64);
}

/** The entry of a finished request: the handler's note, or the method and path when it set none. */
function entryOf(req: Request, res: Response): AuditEntry {
  const note = res.locals['audit'] as AuditNote | undefined;
  const operator = res.locals['operator'] as Operator | undefined;
  const outcome = res.statusCode < 400 ? 'ok' : res.statusCode === 401 || res.statusCode === 403 ? 'refused' : 'failed';
  return {
    actor: operator?.name ?? 'anonymous',
    action: note?.action ?? defaultAction(req),
    subject: note?.subject ?? req.path,
    reason: note?.reason,
    outcome,
    detail: note?.detail ?? (outcome === 'ok' ? undefined : `HTTP ${res.statusCode}`),
  };
}

/**
 * Device requests arrive over mutual TLS: the certificate (issued by the fleet CA) names the
 * device, and must be its current one and the device enrolled, checked on every request.
 */
export function deviceAuth(devices: Devices): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    // S-14
    const peer = peerOf(req.socket as TLSSocket);
    if (!peer) {
      next(new ServerError('UNAUTHENTICATED', 'a device certificate from the fleet CA is required (enroll first)'));
      return;
    }
    devices.authorize(peer.deviceId, peer.serial).then((device) => {
      res.locals['device'] = device;
      res.locals['deviceCertificate'] = peer.certificate;
      next();
    }, next);
  };
}

/** The device a connection's certificate names, and the certificate (its key checks the device's receipts). */
interface Peer {
  deviceId: string;
  serial: string;
  /** DER; parsed only by the routes that need it (a report), not on every poll. */
  certificate: Buffer;
}

const peers = new WeakMap<TLSSocket, Peer | null>();

/**
 * The verified client certificate of a connection, read once per connection: it cannot
 * change on it (TLS 1.3 has no renegotiation), and decoding it was a tenth of a poll's CPU.
 */
function peerOf(socket: TLSSocket): Peer | null {
  if (peers.has(socket)) return peers.get(socket)!;
  const cert =
    socket.authorized && typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
  const peer = cert?.subject?.CN
    ? {
        deviceId: String(cert.subject.CN),
        serial: cert.serialNumber.toLowerCase(),
        certificate: cert.raw,
      }
    : null;
  peers.set(socket, peer);
  return peer;
}

/** A device acts only as itself: a body naming another device id is refused. */
export function sameDevice(res: Response, claimed: unknown): void {
  const device = deviceOf(res);
  if (claimed !== device.deviceId) {
    throw new ServerError(
      'DEVICE_MISMATCH',
      `this certificate belongs to ${device.deviceId}, not ${String(claimed).slice(0, 128)}`,
    );
  }
}
