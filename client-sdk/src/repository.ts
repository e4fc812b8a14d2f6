import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { TargetFile } from '@tufjs/models';
import { BaseFetcher, Updater } from 'tuf-js';

import { VerificationError } from './errors';
import { announcesPartitions, checkPartitionFile, checkSignedRecently, partitionFolder } from './layout';
import { type DeviceLimits, updaterConfig } from './limits';
import type { RepositoryName } from './metadata';
import { type Fetch, plainFetch } from './transport';
import { toOtaError } from './tufErrors';
import * as tufJsErrors from './tufJsErrors';

/** The device's own partition of a partitioned repository: its name and where its files are. */
export interface PartitionSource {
  /** `channel/hardwareId`, from the device's configuration (never from the API). */
  name: string;
  baseUrl: string;
}

export interface TrustedRepositoryOptions {
  name: RepositoryName;
  /** The trusted metadata's folder (the root provisioned there first). */
  metadataDir: string;
  /** Where the flat file set is served. */
  metadataBaseUrl: string;
  /** The device's own partition, read once the trusted root announces partitions; absent: flat files only. */
  partition?: PartitionSource;
  /** Length caps and timeout of every metadata download (D-2). */
  limits: DeviceLimits;
  /** The device's transport (mutual TLS); plain fetch when absent. */
  transport?: Fetch;
  /** The device's clock, for the partition entry bound (D-18); the system clock when absent. */
  now?: () => Date;
}

/** How every metadata file of a repository is fetched: through this transport, within these limits. */
interface MetadataFetching {
  transport: Fetch;
  limits: DeviceLimits;
}

/**
 * One TUF repository as the device sees it: the trusted root on disk, refreshed with
 * tuf-js (version, expiry, signature and threshold checks: D-1, D-2), and targets looked
 * up only from verified metadata. Once its trusted root announces partitions (a root
 * change the device followed, client-sdk/src/layout.ts), it reads only its own partition's
 * file set, kept in its own folder with its own rollback state (D-16).
 */
export class TrustedRepository {
  readonly name: RepositoryName;
  private updater: Updater | undefined;
  private readonly updaterOptions: ConstructorParameters<typeof Updater>[0];
  private readonly metadataDir: string;
  private readonly partition: PartitionSource | undefined;
  private readonly fetching: MetadataFetching;
  private readonly now: () => Date;
  /** The file set the last refresh verified: its folder here, and its path in the repository. */
  private refreshed: { dir: string; folder: string } | undefined;

  constructor(options: TrustedRepositoryOptions) {
    const { metadataDir, metadataBaseUrl, limits } = options;
    this.name = options.name;
    this.metadataDir = metadataDir;
    this.partition = options.partition;
    this.now = options.now ?? (() => new Date());
    this.fetching = { transport: options.transport ?? plainFetch, limits };
    // Flat files must name no partition: a partition's, validly signed, is refused in their place.
    const fetcher = new TransportFetcher(this.fetching, metadataDir, (file, bytes) =>
      checkPartitionFile(file, bytes, undefined),
    );
    this.updaterOptions = { metadataDir, metadataBaseUrl, config: updaterConfig(limits), fetcher };
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
      if (this.partitioned()) return await this.refreshPartition();
      this.updater = new Updater(this.updaterOptions);
      try {
        await this.updater.refresh();
      } catch (err) {
        // After the move the flat files are no longer kept fresh; the root that announced
        // partitions was verified and stored before they failed.
        if (this.partitioned()) return await this.refreshPartition();
        throw err;
      }
      if (this.partitioned()) await this.refreshPartition();
      else this.refreshed = { dir: this.metadataDir, folder: this.name };
    } catch (err) {
      throw toOtaError(this.name, err);
    }
  }

  /**
   * The timestamp the last refresh verified, as tuf-js keeps it, and its path in the
   * repository: what the device asks the transparency log to prove (transparency/logWatch.ts).
   */
  trustedTimestamp(): { file: string; bytes: Buffer } {
    if (!this.refreshed) throw new VerificationError('METADATA_INVALID', `${this.name} repository was not refreshed`);
    return {
      file: `${this.refreshed.folder}/timestamp.json`,
      bytes: readFileSync(join(this.refreshed.dir, 'timestamp.json')),
    };
  }

  /** The version of the timestamp the last refresh verified; absent before one. */
  timestampVersion(): number | undefined {
    if (!this.refreshed) return undefined;
    return (JSON.parse(this.trustedTimestamp().bytes.toString('utf8')) as { signed: { version: number } }).signed
      .version;
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

  /** Whether the trusted root on disk (verified when stored) puts this repository in partitions. */
  private partitioned(): boolean {
    if (!this.partition) return false;
    return announcesPartitions(JSON.parse(readFileSync(join(this.metadataDir, 'root.json'), 'utf8')));
  }

  /**
   * The device's own partition: a folder of its own, started from the newest trusted root,
   * whose newest root goes back up afterwards so another partition (a channel change)
   * starts from it too. Every file must name this partition (checkPartitionFile), and a
   * timestamp the folder does not hold must be recently signed (checkSignedRecently): the
   * folder's versions are no floor for a device that was elsewhere (D-18).
   */
  private async refreshPartition(): Promise<void> {
    const partition = this.partition!;
    const dir = join(this.metadataDir, 'p', ...partition.name.split('/'));
    mkdirSync(dir, { recursive: true });
    // The newest trusted root goes in, also into a folder used before (a channel changed back):
    // a partition never starts from keys the device already saw rotated out.
    if (!existsSync(join(dir, 'root.json'))) copyFileSync(join(this.metadataDir, 'root.json'), join(dir, 'root.json'));
    else promoteRoot(join(this.metadataDir, 'root.json'), join(dir, 'root.json'));
    this.updater = new Updater({
      ...this.updaterOptions,
      metadataDir: dir,
      metadataBaseUrl: partition.baseUrl,
      fetcher: new TransportFetcher(this.fetching, dir, (file, bytes, held) => {
        checkPartitionFile(file, bytes, partition.name);
        if (file === 'timestamp.json' && !(held && Buffer.from(held).equals(bytes)))
          checkSignedRecently(bytes, { now: this.now(), maxAgeMs: this.fetching.limits.partitionTimestampMaxAgeMs });
      }),
    });
    await this.updater.refresh();
    this.refreshed = { dir, folder: partitionFolder(this.name, partition.name) };
    promoteRoot(join(dir, 'root.json'), join(this.metadataDir, 'root.json'));
  }
}

/** Keeps the newer of two verified roots at `to` (written whole, then renamed). */
function promoteRoot(from: string, to: string): void {
  const version = (file: string) =>
    (JSON.parse(readFileSync(file, 'utf8')) as { signed: { version: number } }).signed.version;
  if (version(from) <= version(to)) return;
  writeFileSync(`${to}.tmp`, readFileSync(from));
  renameSync(`${to}.tmp`, to);
}

/**
 * tuf-js fetches through the device's transport (mutual TLS); 403/404 end the root walk.
 * timestamp.json is asked for with the hash of the one the device holds (`dir`): when the
 * API answers 304 the held bytes go to tuf-js again, which keeps its trusted timestamp (same
 * version) and still checks its expiry, so an unchanged poll downloads no metadata at all.
 * Every body is read whole (within the role's length limit) and `check`ed first (with the
 * timestamp the device holds, if any).
 */
class TransportFetcher extends BaseFetcher {
  constructor(
    private readonly fetching: MetadataFetching,
    private readonly dir: string,
    private readonly check: (file: string, bytes: Uint8Array, held: Uint8Array | undefined) => void,
  ) {
    super();
  }

  async fetch(url: string): Promise<ReadableStream<Uint8Array<ArrayBuffer>>> {
    const held = url.endsWith('/timestamp.json') ? heldFile(join(this.dir, 'timestamp.json')) : undefined;
    const headers: Record<string, string> = held
      ? { 'if-none-match': `"${createHash('sha256').update(held).digest('hex')}"` }
      : {};
    const { transport, limits } = this.fetching;
    const response = await transport(url, { signal: AbortSignal.timeout(limits.fetchTimeoutMs), headers });
    if (response.status === 304 && held) {
      await response.body?.cancel();
      return new Blob([held]).stream() as ReadableStream<Uint8Array<ArrayBuffer>>;
    }
    if (!response.ok || !response.body) {
      await response.body?.cancel();
      throw new tufJsErrors.DownloadHTTPError('Failed to download', response.status);
    }
    const file = new URL(url).pathname.split('/').pop() ?? '';
    const bytes = await readCapped(response.body, maxLength(file, limits));
    this.check(file, bytes, held);
    return new Blob([bytes]).stream() as ReadableStream<Uint8Array<ArrayBuffer>>;
  }
}

/** The bytes of a file the device holds, or undefined. */
function heldFile(file: string): Uint8Array<ArrayBuffer> | undefined {
  try {
    return new Uint8Array(readFileSync(file));
  } catch {
    return undefined;
  }
}

function maxLength(file: string, limits: DeviceLimits): number {
  if (file.endsWith('root.json')) return limits.rootMaxLength;
  if (file.endsWith('timestamp.json')) return limits.timestampMaxLength;
  if (file.endsWith('snapshot.json')) return limits.snapshotMaxLength;
  return limits.targetsMaxLength;
}

/** D-2 for a body read whole: more than `max` bytes is refused before it is all read. */
async function readCapped(body: ReadableStream<Uint8Array>, max: number): Promise<Uint8Array<ArrayBuffer>> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.length;
    if (size > max) {
      await body.cancel().catch(() => undefined);
      throw new VerificationError('METADATA_INVALID', `metadata file exceeds ${max} bytes`);
    }
    chunks.push(chunk);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
