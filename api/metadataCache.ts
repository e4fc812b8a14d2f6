/**
 * What the device metadata route reads from storage, shared between devices. Every device of
 * a partition asks for the same few files after each rollout step; at 10,000 devices these
 * reads, not the API, set the pace (object storage answered them at p50 0.4-0.7 s).
 *
 * - A versioned file (`N.role.json`) is never rewritten once published (consistent
 *   snapshots), so it is kept for `hitMs`. The bound is there because storage is untrusted:
 *   bytes an attacker put there briefly stop being served within `hitMs` of their removal
 *   (devices refuse them meanwhile, as they would from storage).
 * - A versioned file that is not there (the root walk's `N+1.root.json`, asked by every
 *   device on every refresh) is remembered as absent for `missMs`, the rollout cache's
 *   freshness: a new root reaches devices as late as a rollout step does, no later.
 * - Devices asking at once share one read. Held bytes are bounded (oldest first out).
 *
 * Unversioned names and timestamp.json are not kept here (timestamp.json has its own
 * checked, shorter-lived copy: api/servedTimestamps.ts).
 */
import type { Storage } from '../infra/storage';
import { MAX_METADATA_BYTES } from '../trust/metadataFiles';

export interface MetadataCacheOptions {
  hitMs: number;
  missMs: number;
  maxBytes: number;
}

interface Entry {
  until: number;
  bytes: Promise<Buffer | undefined>;
  size: number;
}

const VERSIONED = /(^|\/)[1-9][0-9]{0,9}\.(root|snapshot|targets)\.json$/;

export class MetadataCache {
  private readonly entries = new Map<string, Entry>();
  private held = 0;

  constructor(
    private readonly read: (key: string) => Promise<Buffer | undefined>,
    private readonly options: MetadataCacheOptions,
  ) {}

  /** Over the metadata bucket; without options nothing is kept (every request reads storage). */
  static over(storage: Storage, options: MetadataCacheOptions = { hitMs: 0, missMs: 0, maxBytes: 0 }): MetadataCache {
    return new MetadataCache((key) => storage.getBytes('metadata', key, MAX_METADATA_BYTES), options);
  }

  get(key: string, now = Date.now()): Promise<Buffer | undefined> {
    if (!VERSIONED.test(key) || this.options.hitMs <= 0) return this.read(key);
    const found = this.entries.get(key);
    if (found && found.until > now) return found.bytes;
    if (found) this.drop(key);
    const bytes = this.read(key);
    // Until the read ends, devices asking for the same file wait for it (for up to hitMs).
    const entry: Entry = { until: now + this.options.hitMs, bytes, size: 0 };
    this.entries.set(key, entry);
    bytes.then(
      (b) => this.settled(key, entry, { bytes: b, startedAt: now }),
      () => this.entries.get(key) === entry && this.drop(key),
    );
    return bytes;
  }

  /** Everything goes: a rollout change heard from any replica (api/server.ts) reads storage again. */
  clear(): void {
    this.entries.clear();
    this.held = 0;
  }

  /** Entries held, and their bytes (for tests). */
  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.held };
  }

  private settled(key: string, entry: Entry, read: { bytes: Buffer | undefined; startedAt: number }): void {
    const { bytes, startedAt } = read;
    if (this.entries.get(key) !== entry) return;
    if (!bytes) {
      // Absent: kept only for missMs (0 asks storage every time).
      if (this.options.missMs <= 0) this.drop(key);
      else entry.until = startedAt + this.options.missMs;
      return;
    }
    // One file may take at most an eighth of the budget: a few large roles never push out the rest.
    if (bytes.length > this.options.maxBytes / 8) {
      this.drop(key);
      return;
    }
    entry.size = bytes.length;
    this.held += bytes.length;
    for (const [oldest] of this.entries) {
      if (this.held <= this.options.maxBytes) break;
      this.drop(oldest);
    }
  }

  private drop(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.held -= entry.size;
    this.entries.delete(key);
  }
}
