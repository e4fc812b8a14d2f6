/**
 * Server-side errors with a stable code. The API's error middleware and the CLI turn
 * them into `{ error: { code, message } }` and exit codes. Workflow-safe (no Node APIs).
 */
/** Why attestation evidence was refused (fleet/attestation.ts). */
export const EVIDENCE_ERROR_CODES = [
  'ATTESTATION_MALFORMED',
  'ATTESTATION_NONCE_INVALID',
  'ATTESTATION_DEVICE_MISMATCH',
  'ATTESTATION_CHAIN_INVALID',
  'ATTESTATION_CERT_EXPIRED',
  'ATTESTATION_KEY_INVALID',
  'ATTESTATION_SIGNATURE_INVALID',
  'ATTESTATION_MEASUREMENTS_FAILED',
] as const;
export type EvidenceErrorCode = (typeof EVIDENCE_ERROR_CODES)[number];

/** Why an install report's receipt was refused (client-sdk receipt.ts, fleet/receipts.ts). */
const RECEIPT_ERROR_CODES = [
  'RECEIPT_MISSING',
  'RECEIPT_MALFORMED',
  'RECEIPT_SIGNATURE_INVALID',
  'RECEIPT_MISMATCH',
] as const;

/**
 * Every code the server side can give, in one list: activities type their failures with
 * it, the workflow refuses with it, the Temporal client conversion and the API client
 * read it back through `isServerErrorCode`, and api/errorResponses.ts maps each to an HTTP status
 * (a code without a status does not compile).
 */
export const SERVER_ERROR_CODES = [
  'INVALID_INPUT',
  'NOT_FOUND',
  /** A path the API serves, with a method it does not serve there (the answer lists the others in Allow). */
  'METHOD_NOT_ALLOWED',
  /** A Range header outside the artifact. */
  'RANGE_NOT_SATISFIABLE',
  'RELEASE_EXISTS',
  'WRONG_STAGE',
  'APPROVAL_REFUSED',
  'UPDATE_FAILED',
  'ROLLBACK_NOT_ALLOWED',
  'PAYLOAD_TOO_LARGE',
  'CONFIG_INVALID',
  'INTAKE_MISMATCH',
  'ARTIFACT_CORRUPT',
  'VALIDATION_FAILED',
  /** A delta update the worker's tools cannot build from this pair of images (infra/bsdiffSegments.ts). */
  'DELTA_BUILD_FAILED',
  /** `rauc bundle` refused to build or sign a bundle from this image and these keys (infra/raucBundle.ts). */
  'BUNDLE_BUILD_FAILED',
  'REPOSITORY_CONFLICT',
  'SIGNING_KEYS_MISSING',
  'UNAUTHENTICATED',
  /**
   * Too many refused unauthenticated attempts (sign-in, enrollment, an admin change) from one
   * source: answered before the credential is looked at, with Retry-After (S-30).
   */
  'RATE_LIMITED',
  'FORBIDDEN',
  /** A cookie-authenticated change without its CSRF token, or from another origin. */
  'CSRF_REFUSED',
  'ALREADY_EXISTS',
  'ENROLLMENT_REFUSED',
  /** A CSR that is not a well-formed request signed by the key it carries (no proof of possession). */
  'CSR_INVALID',
  'DEVICE_REVOKED',
  'DEVICE_MISMATCH',
  'UNAVAILABLE',
  /**
   * Object storage holds an older signed version of a metadata role than the server has
   * already seen (a restored backup, a replaced bucket, an attacker): nothing is served or
   * built on it until storage is back at least where it was.
   */
  'STORAGE_ROLLBACK',
  /** A protected release's artifact asked for by a device not eligible for that release. */
  'ARTIFACT_REFUSED',
  /** Another partition's metadata asked for by a device (it reads only its own channel and hardware's). */
  'METADATA_REFUSED',
  /** No worker serves the release queue: an update or query was refused before it could wait for one. */
  'NO_WORKER',
  /** The release accepted the update (it is in its history), but no worker finished it in time. */
  'UPDATE_PENDING',
  /**
   * A webhook URL the API will not send to: not http(s), credentials in it, the API itself, or
   * an address the deployment keeps out of reach (webhooks/targets.ts).
   */
  'WEBHOOK_URL_REFUSED',
  /** Anything without a code of its own: a bug or an unexpected failure. */
  'INTERNAL',
  ...EVIDENCE_ERROR_CODES,
  ...RECEIPT_ERROR_CODES,
] as const;
export type ServerErrorCode = (typeof SERVER_ERROR_CODES)[number];

const KNOWN_CODES: ReadonlySet<string> = new Set(SERVER_ERROR_CODES);

/**
 * Failures that no retry can fix: a build or artifact that fails verification, input the
 * rules refuse, a conflict the workflow resolves itself (REPOSITORY_CONFLICT: it signs again
 * on the new head), a missing tool or setting. An activity reports them non-retryable
 * (activities/failures.ts), so the thrower, which knows, decides; everything else is
 * retried within the retry policy's bound.
 */
export const PERMANENT_CODES = [
  'INTAKE_MISMATCH',
  'ARTIFACT_CORRUPT',
  'VALIDATION_FAILED',
  'DELTA_BUILD_FAILED',
  'BUNDLE_BUILD_FAILED',
  'INVALID_INPUT',
  'REPOSITORY_CONFLICT',
  'CONFIG_INVALID',
  'ROLLBACK_NOT_ALLOWED',
  'NOT_FOUND',
] as const satisfies readonly ServerErrorCode[];

const PERMANENT: ReadonlySet<string> = new Set(PERMANENT_CODES);

export function isPermanent(code: ServerErrorCode): boolean {
  return PERMANENT.has(code);
}

/** A code read from outside the type system (a Temporal failure type, an HTTP body). */
export function isServerErrorCode(value: unknown): value is ServerErrorCode {
  return typeof value === 'string' && KNOWN_CODES.has(value);
}

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
export class EvidenceError extends ServerError {
  constructor(
    override readonly code: EvidenceErrorCode,
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

export interface FailureLink {
  type?: unknown;
  message?: string;
  cause?: unknown;
  /** A gRPC status code, where a link is a Temporal service error. */
  code?: unknown;
  name?: string;
}

/** A failure and its causes, outermost first; bounded, since a chain may be cyclic. */
export function* causeChain(err: unknown): Generator<FailureLink> {
  let e = err as FailureLink | undefined;
  for (let depth = 0; e && depth < 16; depth++) {
    yield e;
    e = e.cause as FailureLink | undefined;
  }
}

/**
 * The message of the link that carries the code (an activity failure's own message only says
 * "Activity task failed").
 */
export function failureMessageOf(err: unknown): string {
  for (const e of causeChain(err)) {
    if (e instanceof ServerError || isServerErrorCode(e.type)) return e.message ?? '';
  }
  return err instanceof Error ? err.message : String(err);
}

/**
 * The project code a failure carries: the first known code along its cause chain (an
 * activity's or update's failure wraps the typed ApplicationFailure that has it).
 */
export function failureCodeOf(err: unknown): ServerErrorCode | undefined {
  for (const e of causeChain(err)) {
    if (e instanceof ServerError) return e.code;
    if (isServerErrorCode(e.type)) return e.type;
  }
  return undefined;
}
