import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { TargetFile } from '@tufjs/models';
import { Updater } from 'tuf-js';
import * as tufErrors from 'tuf-js/dist/error';
import { OtaError, TransportError, VerificationError } from './errors';
import type { DeviceLimits } from './limits';
import type { RepositoryName } from './metadata';

/**
 * One TUF repository as the device sees it: the trusted root on disk, refreshed with
 * tuf-js (version, expiry, signature and threshold checks: D-1, D-2), and targets looked
 * up only from verified metadata.
 */
export class TrustedRepository {
  private updater: Updater | undefined;
  private readonly options: ConstructorParameters<typeof Updater>[0];

  constructor(
    readonly name: RepositoryName,
    metadataDir: string,
    metadataBaseUrl: string,
    limits: DeviceLimits,
  ) {
    this.options = { metadataDir, metadataBaseUrl, config: updaterConfig(limits) };
  }

  /** Provisioning: the root is installed once, at the factory; the API never supplies it. */
  static provision(metadataDir: string, trustedRoot: Uint8Array | string): void {
    mkdirSync(metadataDir, { recursive: true });
    const file = join(metadataDir, 'root.json');
    if (!existsSync(file)) writeFileSync(file, trustedRoot);
  }

  /** A tuf-js Updater refreshes once; each poll starts a new one from the stored trusted state. */
  async refresh(): Promise<void> {
    try {
      this.updater = new Updater(this.options);
      await this.updater.refresh();
    } catch (err) {
      throw toOtaError(this.name, err);
    }
  }

  /** A target from freshly verified metadata; absent means "not authorized here". */
  async target(name: string): Promise<TargetFile | undefined> {
    if (!this.updater) throw new VerificationError('METADATA_INVALID', `${this.name} repository was not refreshed`);
    try {
      return await this.updater.getTargetInfo(name);
    } catch (err) {
      throw toOtaError(this.name, err);
    }
  }
}

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

/** tuf-js error classes mapped onto stable codes; anything unknown fails closed as invalid. */
export function toOtaError(repo: string, err: unknown): OtaError {
  if (err instanceof OtaError) return err;
  const message = `${repo} repository: ${err instanceof Error ? err.message : String(err)}`;
  const text = err instanceof Error ? err.message : '';
  if (err instanceof tufErrors.ExpiredMetadataError || /expired/i.test(text)) {
    return new VerificationError('METADATA_EXPIRED', message, { cause: err });
  }
  // Mix-and-match: a file whose version is not the one the snapshot (or timestamp) names.
  if (/does not match (snapshot|timestamp|meta)/i.test(text) || /(hash|length) mismatch/i.test(text)) {
    return new VerificationError('METADATA_INCONSISTENT', message, { cause: err });
  }
  if (err instanceof tufErrors.BadVersionError || /version/i.test(text) && /(lower|less|rollback|expected)/i.test(text)) {
    return new VerificationError('METADATA_ROLLBACK', message, { cause: err });
  }
  if (/signed by \d+\/\d+ keys/.test(text)) {
    return new VerificationError('METADATA_UNTRUSTED', message, { cause: err });
  }
  if (err instanceof tufErrors.DownloadLengthMismatchError) {
    return new VerificationError('METADATA_INVALID', message, { cause: err });
  }
  if (err instanceof tufErrors.DownloadError || isNetworkError(err)) {
    return new TransportError('METADATA_UNAVAILABLE', message, { cause: err });
  }
  return new VerificationError('METADATA_INVALID', message, { cause: err });
}

function isNetworkError(err: unknown): boolean {
  return err instanceof TypeError && /fetch failed/i.test(err.message);
}
