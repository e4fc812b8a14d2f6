import type { ErrorRequestHandler } from 'express';
import { ServerError, type ServerErrorCode } from '../common/errors';

const STATUS: Partial<Record<ServerErrorCode, number>> = {
  INVALID_INPUT: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  ENROLLMENT_REFUSED: 403,
  DEVICE_REVOKED: 403,
  DEVICE_MISMATCH: 403,
  ATTESTATION_REFUSED: 403,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  RELEASE_EXISTS: 409,
  WRONG_STAGE: 409,
  UPDATE_FAILED: 409,
  ROLLBACK_NOT_ALLOWED: 409,
  REPOSITORY_CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNAVAILABLE: 503,
};

/** The one place errors become HTTP: `{ error: { code, message } }` with a fitting status. */
export const errorHandler: ErrorRequestHandler = (err, _req, res, _next) => {
  if (res.headersSent) {
    res.destroy(err as Error);
    return;
  }
  const e = err as { type?: string; status?: number; message?: string };
  if (err instanceof ServerError) {
    res.status(STATUS[err.code] ?? 500).json({ error: { code: err.code, message: err.message } });
  } else if (e.type === 'entity.too.large') {
    res.status(413).json({ error: { code: 'PAYLOAD_TOO_LARGE', message: 'request body too large' } });
  } else if (e.type === 'entity.parse.failed') {
    res.status(400).json({ error: { code: 'INVALID_INPUT', message: 'request body is not valid JSON' } });
  } else if (e.status && e.status >= 400 && e.status < 500) {
    res.status(e.status).json({ error: { code: 'INVALID_INPUT', message: e.message ?? 'bad request' } });
  } else {
    console.error(err);
    res.status(500).json({ error: { code: 'INTERNAL', message: 'internal error' } });
  }
};
