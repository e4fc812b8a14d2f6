import type { MetadataFileSet } from '../trust/metadataFileSet';

const MAX_FILE_SETS = 10_000;

/**
 * The timestamp.json each file set last served, shared by devices for `ttlMs`
 * (OTA_ROLLOUT_CACHE_MS, the offers' own freshness): every device asks for it on every
 * check, and each read costs a storage round trip and a signature check. A rollout change
 * through any replica, and every reload of the offers of a file set, drop it, so offers never
 * run ahead of the timestamp devices are served.
 */
export class ServedTimestamps {
  private readonly served = new Map<string, { at: number; bytes: Promise<Buffer> }>();

  constructor(private readonly ttlMs: number) {}

  /** The file set's timestamp.json, checked against the watermarks (MetadataFileSet.readServedTimestamp). */
  get(set: MetadataFileSet): Promise<Buffer> {
    if (this.ttlMs <= 0) return set.readServedTimestamp();
    const held = this.served.get(set.scope);
    if (held && Date.now() - held.at < this.ttlMs) return held.bytes;
    const bytes = set.readServedTimestamp();
    // Scopes come from devices' requests: the map is bounded.
    if (this.served.size >= MAX_FILE_SETS) this.served.clear();
    this.served.set(set.scope, { at: Date.now(), bytes });
    bytes.catch(() => {
      if (this.served.get(set.scope)?.bytes === bytes) this.served.delete(set.scope);
    });
    return bytes;
  }

  /** Drops one file set's timestamp (its offers are being read again), or every one. */
  forget(scope?: string): void {
    if (scope === undefined) this.served.clear();
    else this.served.delete(scope);
  }
}
