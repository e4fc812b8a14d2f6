/** Caps on everything the device downloads or parses from the network. */
export interface DeviceLimits {
  /** Largest artifact the device will download at all, whatever metadata says. */
  maxArtifactBytes: number;
  /** Largest JSON body accepted from the API. */
  maxApiResponseBytes: number;
  rootMaxLength: number;
  timestampMaxLength: number;
  snapshotMaxLength: number;
  targetsMaxLength: number;
  fetchTimeoutMs: number;
  /**
   * D-18: how long before the device's clock a partition's timestamp.json the device does not
   * hold yet may have been signed. The server re-signs every partition timestamp at least
   * every 2.5 h (docs/adr/0051-partition-entry-freshness-bound.md); NaN or a negative value
   * refuses every new one.
   */
  partitionTimestampMaxAgeMs: number;
  /** How long a new version has to boot and confirm its health before it is reverted. */
  healthWindowMs: number;
}

export const defaultLimits: DeviceLimits = {
  // The server's intake accepts the same maximum (common/validation.ts MAX_ARTIFACT_BYTES).
  maxArtifactBytes: 4 * 1024 ** 3,
  maxApiResponseBytes: 64 * 1024,
  rootMaxLength: 512 * 1024,
  timestampMaxLength: 16 * 1024,
  snapshotMaxLength: 1024 * 1024,
  targetsMaxLength: 8 * 1024 * 1024,
  fetchTimeoutMs: 30_000,
  partitionTimestampMaxAgeMs: 6 * 3_600_000,
  healthWindowMs: 60_000,
};

/** D-2: every metadata download is length-capped; shared by the SDK and the conformance CLI. */
export function updaterConfig(limits: DeviceLimits) {
  return {
    rootMaxLength: limits.rootMaxLength,
    timestampMaxLength: limits.timestampMaxLength,
    snapshotMaxLength: limits.snapshotMaxLength,
    targetsMaxLength: limits.targetsMaxLength,
    fetchTimeout: limits.fetchTimeoutMs,
    fetchRetries: 0,
  };
}

/** The longest install report message the device sends (the API accepts up to 1000). */
export const MAX_REPORT_MESSAGE = 500;
// Control characters but tab and newline: NUL is one the server cannot store at all.
const CONTROL = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/g;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * A report's message may carry error text from anywhere (an installer, the OS, a file
 * name): control characters are dropped, the length is capped and a surrogate left
 * alone (also by the cap) becomes U+FFFD, so the API never refuses a report for its text.
 */
export function reportMessage(text: string): string {
  return text.replace(CONTROL, '').slice(0, MAX_REPORT_MESSAGE).replace(LONE_SURROGATE, '\uFFFD');
}
