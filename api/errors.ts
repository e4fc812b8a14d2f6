import type { ErrorRequestHandler } from 'express';
import { ServerError, type ServerErrorCode } from '../common/errors';
import { noteError, requestIdOf } from './observability';

const STATUS: Partial<Record<ServerErrorCode, number>> = {
  INVALID_INPUT: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  ENROLLMENT_REFUSED: 403,
  DEVICE_REVOKED: 403,
  DEVICE_MISMATCH: 403,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  RELEASE_EXISTS: 409,
  WRONG_STAGE: 409,
  UPDATE_FAILED: 409,
  ROLLBACK_NOT_ALLOWED: 409,
  REPOSITORY_CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNAVAILABLE: 503,
  ATTESTATION_MALFORMED: 400,
  // Evidence that proves nothing is refused like missing credentials: it changes no eligibility.
  ATTESTATION_NONCE_INVALID: 403,
  ATTESTATION_DEVICE_MISMATCH: 403,
  ATTESTATION_CHAIN_INVALID: 403,
  ATTESTATION_CERT_EXPIRED: 403,
  ATTESTATION_KEY_INVALID: 403,
  ATTESTATION_SIGNATURE_INVALID: 403,
  ATTESTATION_MEASUREMENTS_FAILED: 403,
};

/**
 * The one place errors become HTTP: `{ error: { code, message, requestId } }` with a fitting
 * status. The request's log line carries the code, and for a 5xx the error with its stack.
 */
export const errorHandler: ErrorRequestHandler = (err, _req, res, _next) => {
  if (res.headersSent) {
    noteError(res, 'INTERNAL', err);
    res.destroy(err as Error);
    return;
  }
  const { status, code, message } = describe(err);
  noteError(res, code, status >= 500 ? err : undefined);
  res.status(status).json({ error: { code, message, requestId: requestIdOf(res) } });
};

function describe(err: unknown): { status: number; code: string; message: string } {
  const e = err as { type?: string; status?: number; message?: string };
  if (err instanceof ServerError) return { status: STATUS[err.code] ?? 500, code: err.code, message: err.message };
  if (e.type === 'entity.too.large') return { status: 413, code: 'PAYLOAD_TOO_LARGE', message: 'request body too large' };
  if (e.type === 'entity.parse.failed') return { status: 400, code: 'INVALID_INPUT', message: 'request body is not valid JSON' };
  if (e.status && e.status >= 400 && e.status < 500) return { status: e.status, code: 'INVALID_INPUT', message: e.message ?? 'bad request' };
  return { status: 500, code: 'INTERNAL', message: 'internal error' };
}
