import type { ErrorRequestHandler } from 'express';
import { ServerError, type ServerErrorCode } from '../common/errors';

const STATUS: Partial<Record<ServerErrorCode, number>> = {
  INVALID_INPUT: 400,
  NOT_FOUND: 404,
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
