import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { TargetFile } from '@tufjs/models';
import { BaseFetcher, Updater } from 'tuf-js';
import { DownloadHTTPError } from 'tuf-js/dist/error';
import { VerificationError } from './errors';
import { updaterConfig, type DeviceLimits } from './limits';
import type { RepositoryName } from './metadata';
import type { Fetch } from './transport';
import { toOtaError } from './tufErrors';

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
    transport?: Fetch,
  ) {
    const fetcher = transport && new TransportFetcher(transport, limits.fetchTimeoutMs);
    this.options = { metadataDir, metadataBaseUrl, config: updaterConfig(limits), ...(fetcher ? { fetcher } : {}) };
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

/** tuf-js fetches through the device's transport (mutual TLS); 403/404 end the root walk. */
class TransportFetcher extends BaseFetcher {
  constructor(
    private readonly transport: Fetch,
    private readonly timeoutMs: number,
  ) {
    super();
  }

  async fetch(url: string): Promise<ReadableStream<Uint8Array<ArrayBuffer>>> {
    const response = await this.transport(url, { signal: AbortSignal.timeout(this.timeoutMs) });
    if (!response.ok || !response.body) {
      await response.body?.cancel();
      throw new DownloadHTTPError('Failed to download', response.status);
    }
    return response.body as ReadableStream<Uint8Array<ArrayBuffer>>;
  }
}
