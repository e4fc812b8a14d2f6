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
