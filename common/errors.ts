/**
 * Server-side errors with a stable code. The API's error middleware and the CLI turn
 * them into `{ error: { code, message } }` and exit codes. Workflow-safe (no Node APIs).
 */
export type ServerErrorCode =
  | 'INVALID_INPUT'
  | 'NOT_FOUND'
  | 'RELEASE_EXISTS'
  | 'WRONG_STAGE'
  | 'UPDATE_FAILED'
  | 'ROLLBACK_NOT_ALLOWED'
  | 'PAYLOAD_TOO_LARGE'
  | 'CONFIG_INVALID'
  | 'INTAKE_MISMATCH'
  | 'ARTIFACT_CORRUPT'
  | 'VALIDATION_FAILED'
  | 'REPOSITORY_CONFLICT'
  | 'SIGNING_KEYS_MISSING'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'ALREADY_EXISTS'
  | 'ENROLLMENT_REFUSED'
  | 'DEVICE_REVOKED'
  | 'DEVICE_MISMATCH'
  | 'UNAVAILABLE'
  | AttestationErrorCode;

/** Why attestation evidence was refused (api/attestation.ts). */
export type AttestationErrorCode =
  | 'ATTESTATION_MALFORMED'
  | 'ATTESTATION_NONCE_INVALID'
  | 'ATTESTATION_DEVICE_MISMATCH'
  | 'ATTESTATION_CHAIN_INVALID'
  | 'ATTESTATION_CERT_EXPIRED'
  | 'ATTESTATION_KEY_INVALID'
  | 'ATTESTATION_SIGNATURE_INVALID'
  | 'ATTESTATION_MEASUREMENTS_FAILED';

export class ServerError extends Error {
  constructor(
    readonly code: ServerErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = this.constructor.name;
  }
}

/** Attestation evidence that proves nothing: it must not change what the device is offered. */
export class AttestationError extends ServerError {
  constructor(
    override readonly code: AttestationErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

export class InputError extends ServerError {
  constructor(message: string) {
    super('INVALID_INPUT', message);
  }
}
