import type { ErrorRequestHandler } from 'express';

import { ServerError, type ServerErrorCode } from '../common/errors';
import { noteError, requestIdOf } from './observability';

/**
 * Every code's HTTP status. `satisfies Record<...>` makes it complete: a new code without a
 * status does not compile. Refusals are 4xx; only faults of the server side are 5xx.
 */
const STATUS = {
  INVALID_INPUT: 400,
  ATTESTATION_MALFORMED: 400,
  CSR_INVALID: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  CSRF_REFUSED: 403,
  // The caller may not give this approval (its creator, not an owner, already approved).
  APPROVAL_REFUSED: 403,
  ENROLLMENT_REFUSED: 403,
  DEVICE_REVOKED: 403,
  DEVICE_MISMATCH: 403,
  // Evidence that proves nothing is refused like missing credentials: it changes no eligibility.
  ATTESTATION_NONCE_INVALID: 403,
  ATTESTATION_DEVICE_MISMATCH: 403,
  ATTESTATION_CHAIN_INVALID: 403,
  ATTESTATION_CERT_EXPIRED: 403,
  ATTESTATION_KEY_INVALID: 403,
  ATTESTATION_SIGNATURE_INVALID: 403,
  ATTESTATION_MEASUREMENTS_FAILED: 403,
  // A report whose receipt does not prove the device said it is refused like one it never sent.
  RECEIPT_MISSING: 403,
  RECEIPT_MALFORMED: 403,
  RECEIPT_SIGNATURE_INVALID: 403,
  RECEIPT_MISMATCH: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  RANGE_NOT_SATISFIABLE: 416,
  ALREADY_EXISTS: 409,
  RELEASE_EXISTS: 409,
  WRONG_STAGE: 409,
  UPDATE_FAILED: 409,
  ROLLBACK_NOT_ALLOWED: 409,
  REPOSITORY_CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  // The route set Retry-After (api/refusalGate.ts): how long until this source may try again.
  RATE_LIMITED: 429,
  // The build or its signing failed verification: the request was fine, the content is not.
  INTAKE_MISMATCH: 422,
  WEBHOOK_URL_REFUSED: 422,
  ARTIFACT_CORRUPT: 422,
  VALIDATION_FAILED: 422,
  DELTA_BUILD_FAILED: 422,
  BUNDLE_BUILD_FAILED: 422,
  CONFIG_INVALID: 500,
  SIGNING_KEYS_MISSING: 500,
  INTERNAL: 500,
  UNAVAILABLE: 503,
  STORAGE_ROLLBACK: 503,
  ARTIFACT_REFUSED: 403,
  METADATA_REFUSED: 403,
  NO_WORKER: 503,
  // The API stopped waiting for the worker: the update is in the release's history and completes when one runs.
  UPDATE_PENDING: 504,
} as const satisfies Record<ServerErrorCode, number>;

/** The HTTP status of a code (exported for the tests that check the table against the routes). */
export function httpStatusOf(code: ServerErrorCode): number {
  return STATUS[code];
}

/**
 * The one place errors become HTTP: `{ error: { code, message, requestId } }` with a fitting
 * status. The request's log line carries the code, and for a 5xx the error with its stack.
 */
// eslint-disable-next-line @typescript-eslint/max-params -- express tells an error handler by its four parameters
export const errorHandler: ErrorRequestHandler = (err, _req, res, _next) => {
  if (res.headersSent) {
    noteError(res, 'INTERNAL', err);
    res.destroy(err as Error);
    return;
  }
  const { status, code, message } = errorAnswerOf(err);
  noteError(res, code, status >= 500 ? err : undefined);
  // A passing outage (a store or worker coming back): clients back off at least this long.
  if (status === 503) res.setHeader('Retry-After', '2');
  res.status(status).json({ error: { code, message, requestId: requestIdOf(res) } });
};

/** The status, code and message a failure answers with (the enrollment audit records the same code). */
export function errorAnswerOf(err: unknown): { status: number; code: ServerErrorCode; message: string } {
  const e = err as { type?: string; status?: number; message?: string };
  if (err instanceof ServerError) return { status: STATUS[err.code], code: err.code, message: err.message };
  if (e.type === 'entity.too.large')
    return { status: 413, code: 'PAYLOAD_TOO_LARGE', message: 'request body too large' };
  if (e.type === 'entity.parse.failed')
    return { status: 400, code: 'INVALID_INPUT', message: 'request body is not valid JSON' };
  if (e.status && e.status >= 400 && e.status < 500)
    return { status: e.status, code: 'INVALID_INPUT', message: e.message ?? 'bad request' };
  return { status: 500, code: 'INTERNAL', message: 'internal error' };
}
