import type { TLSSocket } from 'node:tls';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { ServerError } from '../common/errors';
import type { Devices } from '../infra/devices';
import type { AuditLog, Operators } from '../infra/operators';
import { allowed, type Permission } from './permissions';
import type { DeviceRecord, Operator } from '../common/adminApi';

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

/**
 * Admin requests: a bearer token names the operator, the route's permission decides. Every
 * request that is not a plain read is written to the audit log when it ends, refused and
 * failed ones included, with the operator (or "anonymous") and the handler's note.
 */
export function adminAuth(operators: Operators, audit: AuditLog): (permission: Permission) => RequestHandler {
  return (permission) => (req, res, next) => {
    // S-15
    if (req.method !== 'GET') res.on('finish', () => void recordAudit(audit, req, res));
    const header = req.header('authorization') ?? '';
    const token = /^Bearer ([A-Za-z0-9_-]{10,200})$/.exec(header)?.[1];
    const done = (err?: unknown) => (err ? next(err) : next());
    if (!token) return done(new ServerError('UNAUTHENTICATED', 'send Authorization: Bearer <operator token> (OTA_TOKEN for the CLI)'));
    operators
      .authenticate(token)
      .then((operator) => {
        if (!operator) throw new ServerError('UNAUTHENTICATED', 'unknown or revoked operator token');
        res.locals['operator'] = operator;
        if (!allowed(operator.roles, permission)) {
          throw new ServerError('FORBIDDEN', `${operator.name} (${operator.roles.join(', ')}) may not ${permission}`);
        }
      })
      .then(() => done(), done);
  };
}

async function recordAudit(audit: AuditLog, req: Request, res: Response): Promise<void> {
  const note = res.locals['audit'] as AuditNote | undefined;
  const operator = res.locals['operator'] as Operator | undefined;
  const outcome = res.statusCode < 400 ? 'ok' : res.statusCode === 401 || res.statusCode === 403 ? 'refused' : 'failed';
  try {
    await audit.record({
      actor: operator?.name ?? 'anonymous',
      action: note?.action ?? `${req.method} ${req.route?.path ?? req.path}`.slice(0, 64),
      subject: note?.subject ?? req.path,
      reason: note?.reason,
      outcome,
      detail: note?.detail ?? (outcome === 'ok' ? undefined : `HTTP ${res.statusCode}`),
    });
  } catch (err) {
    // The action already happened; losing its audit line must at least be loud.
    console.error('audit log write failed', err);
  }
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
    devices
      .authorize(peer.deviceId, peer.serial)
      .then((device) => {
        res.locals['device'] = device;
        next();
      }, next);
  };
}

const peers = new WeakMap<TLSSocket, { deviceId: string; serial: string } | null>();

/**
 * The verified client certificate of a connection, read once per connection: it cannot
 * change on it (TLS 1.3 has no renegotiation), and decoding it was a tenth of a poll's CPU.
 */
function peerOf(socket: TLSSocket): { deviceId: string; serial: string } | null {
  if (peers.has(socket)) return peers.get(socket)!;
  const cert = socket.authorized && typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
  const peer = cert?.subject?.CN ? { deviceId: String(cert.subject.CN), serial: cert.serialNumber.toLowerCase() } : null;
  peers.set(socket, peer);
  return peer;
}

/** A device acts only as itself: a body naming another device id is refused. */
export function sameDevice(res: Response, claimed: unknown): void {
  const device = deviceOf(res);
  if (claimed !== device.deviceId) {
    throw new ServerError('DEVICE_MISMATCH', `this certificate belongs to ${device.deviceId}, not ${String(claimed).slice(0, 128)}`);
  }
}
