// Verification: trusted repositories, the install checklist and the rules it applies (bucket, semver)
export { BUCKET_COUNT, bucketInPercent, rolloutBucket } from './bucket';
export type { DeviceFacts, SignedEntries } from './installPolicy';
export { readReleaseFields, readRolloutState, verifyInstallable, verifyTargetName } from './installPolicy';
export { updaterConfig } from './limits';
export type { PartitionSource, TrustedRepositoryOptions } from './repository';
export { TrustedRepository } from './repository';
export { compareSemver, isSemver } from './semver';
export { toOtaError } from './tufErrors';
// Receipts: the device's signature over each report it sends (ADR 0079)
export type { Receipt, ReceiptClaims, ReceiptContext, ReceiptErrorCode } from './receipt';
export { attestReceipt, MAX_RECEIPT_BODY_BYTES, openReceipt, RECEIPT_TYPE, ReceiptError, signReceipt } from './receipt';

// Metadata and layout: the signed fields, the repositories and their partitions
export {
  announcesPartitions,
  checkPartitionFile,
  checkSignedRecently,
  LAYOUT_FIELD,
  PARTITION_FIELD,
  PARTITIONED_LAYOUT,
  partitionFolder,
  partitionOf,
  SIGNED_AT_FIELD,
} from './layout';
export type { RepositoryName, RolloutState, VerifiedTarget } from './metadata';
export { REPOSITORIES } from './metadata';

// Download and deltas: verified, resumable downloads and the delta files devices apply
export type { ApplyFiles, DeltaBinding, DeltaSegment } from './delta';
export {
  applyDelta,
  DELTA_FIELD,
  DELTA_FORMAT,
  deltaTargetName,
  encodeDeltaHeader,
  isDeltaEntry,
  MAX_DELTA_REGION,
  MAX_DELTA_SEGMENT,
  MAX_PATCH,
  PATCH_HEADER,
  readDeltaBinding,
  rebuiltTargetOf,
} from './delta';
export type { BlockFrame } from './deltaBlocks';
export { BlockStream } from './deltaBlocks';
export type { DownloadOptions, ExpectedArtifact } from './download';
export { downloadVerified } from './download';
// Memory a device frees as it goes, not at the collector's next turn
export { fileSink, unwritten } from './fileSink';
export { freeNow } from './freeNow';

// Installer: the interface an A/B system implements, and the reference one
export type { AbOptions, AbStep } from './abInstaller';
export { AbSlotInstaller } from './abInstaller';
export type { Installer, RecoverContext, Recovery } from './installer';
// Programs the device runs (RAUC, health checks, hooks): no shell, a deadline, bounded output
export type { ProgramOutcome, ProgramSpec } from './runProgram';
export { runProgram } from './runProgram';
// Installer backends: RAUC (A/B slots switched by the bootloader)
export type { CommandLimits, CommandResult, CommandSpec } from './installers/command';
export { runCommand } from './installers/command';
export type { HealthChecks, RaucOptions, RaucTimeouts } from './installers/rauc';
export { RaucInstaller } from './installers/rauc';
export type { HealthDecision, RaucStep, RecoveryPlan, SlotRecord, TrialMarker } from './installers/raucRecovery';
export { decideRecovery } from './installers/raucRecovery';
export type { RaucSlot, RaucStatus } from './installers/raucStatus';
export { MAX_RAUC_STATUS_BYTES, parseRaucStatus } from './installers/raucStatus';

// Device agent: the update loop, its configuration and its stored state
export { readCapped, readCappedIfPresent } from './cappedFile';
export type { AgentStep, CycleOutcome, DeviceConfig, InstallProgress, UpdateResult } from './device';
export { DeviceAgent } from './device';
export type { InstallWindow, Weekday, WindowVerdict } from './installWindows';
export { installWindowsProblem, windowVerdict } from './installWindows';
export type { DeviceLimits } from './limits';
export { defaultLimits } from './limits';
export type { NetworkPolicy } from './networkPolicy';
export { ByteBudget, checkNetworkPolicy, isMetered } from './networkPolicy';
export type { Readiness, ReadinessHook } from './readiness';
export { askReadiness, checkReadinessHook, READINESS_OUTPUT_BYTES, ReadinessBackoff } from './readiness';
export type { DeviceState } from './state';
export { gaveUpOn, MAX_REVERTED, readDeviceState, TRIALS_PER_TARGET, withReverted } from './state';

// Transport and retries: mutual TLS, the device API client and how it retries
export type { DeviceApiClientOptions, InstallReport, PollOffer, PollRequest } from './apiClient';
export { DeviceApiClient } from './apiClient';
export { MAX_REPORT_MESSAGE, reportMessage } from './limits';
export type { RetryDeps, RetryOptions, RetryPolicy } from './retry';
export {
  backoffMs,
  cycleDelayMs,
  defaultRetry,
  isRetryable,
  pollDelayMs,
  realRetryDeps,
  retryAfterMs,
  retryDelayMs,
  retryPolicy,
  withRetry,
} from './retry';
export type { ArtifactAnswer, ArtifactGet, Fetch, FetchAnswer, TlsIdentity } from './transport';
export { closeIdleConnections, createArtifactGet, createTransport } from './transport';

// Identity and attestation: enrollment, renewal, the identity on disk, attestation evidence
export type {
  AttestationClaim,
  AttestationEvidence,
  AttestationKey,
  AttestationMeasurements,
  BootState,
} from './attestation';
export { attestationPayload, BOOT_STATES, createEvidence } from './attestation';
export type { DeviceIdentity, EnrollmentApi, EnrollmentRequest } from './identity';
export { enroll, loadIdentity, needsRenewal, newKeyAndCsr, renew, saveIdentity } from './identity';

// Release documents: an SBOM or provenance checked against the digest signed into its target
export type { ReleaseDocumentKind, SignedDocument } from './documents';
export { checkReleaseDocument } from './documents';

// Errors: every refusal carries a code; tuf-js's own classes for callers that map them
export type { ApiAnswer, OtaErrorCode, WaitReason } from './errors';
export {
  ApiRequestError,
  AttestationError,
  DeferredError,
  InstallError,
  OtaError,
  PolicyError,
  RollbackError,
  TransportError,
  VerificationError,
} from './errors';
export * as tufJsErrors from './tufJsErrors';
