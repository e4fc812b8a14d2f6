import { type ErrorRequestHandler, type Request, type Response, Router } from 'express';

import { ServerError } from '../common/errors';
import type { AuditLog } from '../infra/auditLog';
import type { Devices } from '../infra/devices';
import { DEVICE_ID, type FleetCa } from '../infra/fleetCa';
import { deviceAuth, deviceOf, sameDevice } from './auth';
import { errorAnswerOf } from './errorResponses';
import { logRequestFailure } from './observability';
import type { RefusalGate } from './refusalGate';
import { withBody } from './requestBodies';
import { bodyField, jsonBody } from './untrusted';

export interface IdentityRouteDeps {
  devices: Devices;
  ca: FleetCa;
  audit: AuditLog;
  gate: RefusalGate;
  deviceCertHours: number;
}

const ENROLL_ACTOR = 'enrollActor';
/** The id of the attempt's audit entry, once `begin` wrote it. */
const ENROLL_ENTRY = 'enrollEntry';

/**
 * Enrollment (a one-time token and a CSR buy a certificate naming the device) and renewal
 * (over mutual TLS with the current certificate, which stops working once replaced).
 */
export function identityRoutes(deps: IdentityRouteDeps): Router {
  const r = Router();
  const body = jsonBody(16 * 1024);

  // S-30: a source past its allowance of unusable tokens is answered 429 before its body is read.
  r.post(
    '/v1/enroll',
    deps.gate.admit('device.enroll'),
    body,
    withBody('Enroll', async (b, req, res) => {
      // A token that can enroll nothing changes nothing: refused (and audited) with no entry first.
      const unusable = await deps.devices.unusableToken(b.token);
      if (unusable) throw new ServerError('ENROLLMENT_REFUSED', `enrollment token is ${unusable}`);
      deps.gate.accept(res);
      // S-15: the entry is written before anything changes (the next line spends the token);
      // if it cannot be, nothing runs. Its actor is filled in once the token names the device.
      res.locals[ENROLL_ENTRY] = await deps.audit
        .begin({ actor: 'anonymous', action: 'device.enroll', subject: subjectOf(req) })
        .catch((err: unknown) => {
          throw new ServerError(
            'UNAVAILABLE',
            'the audit log cannot be written, so nothing was changed: try again later',
            { cause: err },
          );
        });
      const grant = await deps.devices.consumeToken(b.token);
      // From here on the attempt is the token's device's (the audit's actor).
      res.locals[ENROLL_ACTOR] = `device:${grant.deviceId}`;
      // The token names the device; a CSR for another id gets nothing (the token stays spent).
      if (grant.deviceId !== b.deviceId)
        throw new ServerError('ENROLLMENT_REFUSED', `this token enrolls ${grant.deviceId}, not ${b.deviceId}`);
      // S-20: proof of possession (CSR_INVALID) before the store is asked; an enrolled device is
      // refused by `enroll` itself, and the certificate issued for it is never handed out.
      const cert = deps.ca.signDeviceCsr(b.csr, grant.deviceId, deps.deviceCertHours);
      const serial = cert.serial.toLowerCase();
      await deps.devices.enroll(grant, { serial, notAfter: cert.notAfter }, b.currentVersion ?? '0.0.0');
      await auditEnrollment(deps.audit, { req, res, outcome: 'ok', detail: `certificate ${serial}` });
      res
        .status(201)
        .json({ certificate: cert.certPem, deviceId: grant.deviceId, notAfter: cert.notAfter.toISOString() });
    }),
  );
  // Every refused attempt too, body and schema refusals included, before the error answers; one
  // with an unusable token beyond the budget of entries, and every 429, is in a summary (S-30).
  // eslint-disable-next-line @typescript-eslint/max-params -- express tells an error handler by its four parameters
  const auditRefusal: ErrorRequestHandler = (err, req, res, next) => {
    const { status, code, message } = errorAnswerOf(err);
    const begun = res.locals[ENROLL_ENTRY] !== undefined;
    if (code === 'RATE_LIMITED' || (!begun && !deps.gate.mayRecord(res))) return next(err);
    const outcome = status < 500 ? 'refused' : 'failed';
    void auditEnrollment(deps.audit, { req, res, outcome, detail: `${code}: ${message}` }).then(() => next(err));
  };
  r.use('/v1/enroll', auditRefusal);

  r.post(
    '/v1/devices/renew',
    deviceAuth(deps.devices),
    body,
    withBody('Renew', async (b, _req, res) => {
      sameDevice(res, b.deviceId);
      const device = deviceOf(res);
      const cert = deps.ca.signDeviceCsr(b.csr, device.deviceId, deps.deviceCertHours);
      await deps.devices.renew(device.deviceId, device.certSerial!, {
        serial: cert.serial.toLowerCase(),
        notAfter: cert.notAfter,
      });
      res
        .status(201)
        .json({ certificate: cert.certPem, deviceId: device.deviceId, notAfter: cert.notAfter.toISOString() });
    }),
  );

  return r;
}

/**
 * S-20: one audit entry per enrollment attempt. The actor is the device whose token the
 * request spent, or `anonymous` when the token enrolls nobody (unknown, used, expired); the
 * subject is the device id the request names. An attempt refused before its entry was begun
 * (body and schema checks) gets a whole entry; a lost write is logged as one JSON line.
 */
async function auditEnrollment(
  audit: AuditLog,
  { req, res, outcome, detail }: { req: Request; res: Response; outcome: 'ok' | 'refused' | 'failed'; detail: string },
): Promise<void> {
  const entry = {
    actor: (res.locals[ENROLL_ACTOR] as string | undefined) ?? 'anonymous',
    action: 'device.enroll',
    subject: subjectOf(req),
    outcome,
    detail,
  };
  const begun = res.locals[ENROLL_ENTRY] as number | undefined;
  try {
    await (begun === undefined ? audit.record(entry) : audit.complete(begun, entry));
  } catch (err) {
    logRequestFailure(res, err, 'audit entry of an enrollment could not be written');
  }
}

function subjectOf(req: Request): string {
  const named = bodyField(req, 'deviceId');
  return typeof named === 'string' && DEVICE_ID.test(named) ? named : '-';
}
