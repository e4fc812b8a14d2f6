/**
 * Every refusal on the device carries a code; callers (and install reports) branch on
 * the code, never on message text. Requirement ids (D-n) live in docs/threat-model.md.
 */
export type OtaErrorCode =
  // metadata (TUF) layer
  | 'METADATA_UNTRUSTED'
  | 'METADATA_EXPIRED'
  | 'METADATA_ROLLBACK'
  | 'METADATA_INCONSISTENT'
  | 'METADATA_INVALID'
  | 'METADATA_UNAVAILABLE'
  // a partition timestamp new to the device signed longer ago than its bound (D-18)
  | 'METADATA_STALE'
  // artifact layer
  | 'TARGET_NOT_FOUND'
  | 'TARGET_NAME_INVALID'
  | 'TARGET_MISMATCH'
  | 'TARGET_LENGTH_MISMATCH'
  | 'TARGET_HASH_MISMATCH'
  | 'DOWNLOAD_FAILED'
  // delta updates (delta.ts): each falls back to the full image
  | 'DELTA_MISMATCH'
  | 'DELTA_BASE_MISMATCH'
  | 'DELTA_INVALID'
  | 'DELTA_OUTPUT_MISMATCH'
  // policy layer
  | 'HARDWARE_MISMATCH'
  | 'CHANNEL_MISMATCH'
  | 'NOT_IN_ROLLOUT'
  | 'ROLLOUT_PAUSED'
  | 'RELEASE_WITHDRAWN'
  | 'ROLLBACK_INDEX_TOO_LOW'
  | 'NOT_NEWER'
  | 'SOURCE_VERSION_TOO_OLD'
  // a target this device installed before and whose trial boot failed its health check
  | 'TARGET_REVERTED'
  // device side plumbing
  | 'API_ERROR'
  | 'NOT_ENROLLED'
  | 'ENROLLMENT_REFUSED'
  | 'RESPONSE_TOO_LARGE'
  | 'INSTALL_FAILED'
  | 'HEALTH_CHECK_FAILED'
  | 'INSTALL_INTERRUPTED'
  | 'DEVICE_STATE_INVALID'
  | 'CONFIG_INVALID'
  // installer backends (installers/): a command (rauc, a health check, the reboot) that exited
  // non-zero, was killed or outlived its deadline
  | 'INSTALLER_COMMAND_FAILED'
  // RAUC's status output that is not what RAUC writes: too large, not JSON, no booted slot, unknown fields' types
  | 'RAUC_STATUS_INVALID'
  // the booted slot is neither marked good nor under a trial the agent started: nothing to report as running
  | 'RAUC_SLOT_UNCONFIRMED'
  // remote attestation (device side)
  | 'ATTESTATION_KEY_INVALID'
  // not now (D-19): the device waits and reports why; none of these is a failure
  | 'INSTALL_WINDOW_CLOSED'
  | 'DEVICE_NOT_READY'
  | 'NETWORK_METERED'
  | 'BYTE_BUDGET_SPENT'
  // release documents (documents.ts): none signed into the target, or not the one signed
  | 'DOCUMENT_NOT_SIGNED'
  | 'DOCUMENT_MISMATCH'
  // transparency log (transparency/): a checkpoint or proof malformed or too large, not signed
  // by the log's key, cosigned by too few witnesses; a history that forks from the one the
  // device kept; metadata the log does not hold
  | 'LOG_INVALID'
  | 'LOG_UNTRUSTED'
  | 'LOG_UNWITNESSED'
  | 'LOG_INCONSISTENT'
  | 'LOG_NOT_INCLUDED'
  // install receipts (receipt.ts), as the server refuses them: none, malformed, not signed by the
  // device's certificate key, or saying something else than the report they came with
  | 'RECEIPT_MISSING'
  | 'RECEIPT_MALFORMED'
  | 'RECEIPT_SIGNATURE_INVALID'
  | 'RECEIPT_MISMATCH';

export class OtaError extends Error {
  readonly code: OtaErrorCode;
  constructor(code: OtaErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = this.constructor.name;
  }
}

/** The metadata or the artifact failed a cryptographic or TUF check. */
export class VerificationError extends OtaError {}
/** Authentic, but not for this device (hardware, channel, rollout, rollback index). */
export class PolicyError extends OtaError {}
/** A subclass so callers can single out downgrade attempts. */
export class RollbackError extends PolicyError {}
/** Transport problems: nothing was verified, nothing was installed. */
export class TransportError extends OtaError {}
/** The answer a refused device API request got: its status, and its Retry-After header as sent. */
export interface ApiAnswer {
  status: number;
  retryAfter?: string;
}
/**
 * A device API request that got no answer (`answer` and so `status` undefined: connection
 * refused or reset, timeout) or an error status; `retryAfter` is the answer's Retry-After
 * header as sent, untrusted (retry.ts caps it). Whether it is retried is decided in retry.ts,
 * by status.
 */
export class ApiRequestError extends TransportError {
  readonly status: number | undefined;
  readonly retryAfter: string | undefined;
  constructor(message: string, answer: ApiAnswer | undefined, options?: { cause?: unknown }) {
    super('API_ERROR', message, options);
    this.status = answer?.status;
    this.retryAfter = answer?.retryAfter;
  }
}
export class InstallError extends OtaError {}
/** Why a device waits rather than installs: outside its signed window, its readiness hook, a metered network. */
export type WaitReason = 'window' | 'not-ready' | 'metered';
/**
 * The release may be installed, but not now. The agent reports it as waiting (never as a
 * refusal or a failure) and looks again later: after `retryInMs` when it is known.
 */
export class DeferredError extends OtaError {
  readonly reason: WaitReason;
  readonly retryInMs: number | undefined;
  constructor(code: OtaErrorCode, why: { reason: WaitReason; message: string; retryInMs?: number }) {
    super(code, why.message);
    this.reason = why.reason;
    this.retryInMs = why.retryInMs;
  }
}
/** The device could not produce attestation evidence (its key is unusable). */
export class AttestationError extends OtaError {}
