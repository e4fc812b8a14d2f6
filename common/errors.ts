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
  | 'ATTESTATION_REFUSED'
  | 'UNAVAILABLE';

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

export class InputError extends ServerError {
  constructor(message: string) {
    super('INVALID_INPUT', message);
  }
}
