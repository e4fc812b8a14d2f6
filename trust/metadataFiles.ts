import type { RepositoryName } from '@enigm-ota/client-sdk';
import { leafHash, metadataLeaf } from '@enigm-ota/client-sdk/transparency';
import { Metadata, type MetadataKind, type Root, type Snapshot, type Targets, type Timestamp } from '@tufjs/models';

import { ServerError } from '../common/errors';
import type { Storage } from '../infra/storage';
import type { LogAppender } from '../infra/transparencyLog';
import { PARTITION_FIELD, partitionFolder } from './layout';
import { parseTufJson } from './tufJson';

export const MAX_METADATA_BYTES = 8 * 1024 * 1024;

/** The roles whose files a file set holds and adopts only once verified (roots have their own walk). */
export type RoleKind = MetadataKind.Timestamp | MetadataKind.Snapshot | MetadataKind.Targets;
type KindOf<K> = K extends MetadataKind.Timestamp ? Timestamp : K extends MetadataKind.Snapshot ? Snapshot : Targets;

/** A metadata file read from storage that verified against the trusted root. */
export interface VerifiedFile<K extends RoleKind> {
  md: Metadata<KindOf<K>>;
  bytes: Buffer;
  etag: string;
}

/** What a stored file must be to be adopted (readVerified). */
export interface Expected {
  /** The root whose keys decide. */
  root: Metadata<Root>;
  /** The version of a versioned file (N.snapshot.json, N.targets.json); none for timestamp.json. */
  version?: number | undefined;
}

/**
 * One file set's metadata files in object storage: where each lives, the conditional writes
 * that claim a version, and the reads that adopt a file only once it verifies. Roots are the
 * repository's (shared by its partitions); every other file is the set's own, under `scope`.
 */
export class MetadataFiles {
  /** Where this file set lives in storage, and its name in watermarks and messages. */
  readonly scope: string;

  constructor(
    private readonly storage: Storage,
    private readonly set: { repo: RepositoryName; partition?: string | undefined; log?: LogAppender | undefined },
  ) {
    this.scope = set.partition ? partitionFolder(set.repo, set.partition) : set.repo;
  }

  /** Where a file of this set is in storage: roots are the repository's, the rest the set's own. */
  storageKey(file: string): string {
    return /^[0-9]+\.root\.json$/.test(file) ? `${this.set.repo}/${file}` : `${this.scope}/${file}`;
  }

  async exists(file: string): Promise<boolean> {
    return (await this.storage.stat('metadata', this.storageKey(file))) !== undefined;
  }

  get(file: string): Promise<Buffer | undefined> {
    return this.storage.getBytes('metadata', this.storageKey(file), MAX_METADATA_BYTES);
  }

  /** Writes `file` only if absent (If-None-Match): false when another writer holds it. */
  async claim(file: string, bytes: Buffer): Promise<boolean> {
    await this.logged(file, bytes);
    return this.storage.putBytesIfAbsent('metadata', this.storageKey(file), bytes);
  }

  /** Replaces `file` only if it is still the one read (If-Match on its ETag). */
  async replace(file: string, bytes: Buffer, etag: string): Promise<boolean> {
    await this.logged(file, bytes);
    return this.storage.putBytesIfMatch('metadata', this.storageKey(file), { bytes, etag });
  }

  /**
   * ADR 0078: a signed file is in the transparency log before any device can read it, so a
   * device can ask for its inclusion. A write that then loses its race leaves a logged file
   * nobody published: the log shows what was signed, a superset of what was served.
   */
  private async logged(file: string, bytes: Buffer): Promise<void> {
    if (!this.set.log) return;
    const leaf = metadataLeaf(this.storageKey(file), bytes);
    const { index } = await this.set.log.append(leaf);
    // Where devices' proofs start from (api/logRoutes.ts); untrusted: a wrong index fails the proof.
    await this.storage.putBytes('metadata', logIndexKey(leafHash(leaf)), Buffer.from(JSON.stringify({ index })));
  }

  /**
   * A role's file as stored (timestamp.json, or N.snapshot.json / N.targets.json for a
   * version), adopted only if the role's keys in the root sign it, it carries the version its
   * name claims (an old signed file copied into a newer slot is refused) and names this file
   * set's partition (a validly signed file of another partition, or of the flat set, is refused).
   * Undefined when absent; VALIDATION_FAILED when it does not verify.
   */
  async readVerified<K extends RoleKind>(kind: K, expected: Expected): Promise<VerifiedFile<K> | undefined> {
    const file = fileName(kind, expected.version);
    const found = await this.storage.getVersioned('metadata', this.storageKey(file), MAX_METADATA_BYTES);
    if (!found) return undefined;
    return { md: this.verify(kind, found.bytes, expected), bytes: found.bytes, etag: found.etag };
  }

  /**
   * Bytes of a role's file as readVerified adopts them (signed by the role's keys in the root,
   * the version expected, this file set's partition), wherever they came from; VALIDATION_FAILED
   * otherwise.
   */
  verify<K extends RoleKind>(kind: K, bytes: Buffer, expected: Expected): Metadata<KindOf<K>> {
    const { root, version } = expected;
    try {
      const md = Metadata.fromJSON(kind as MetadataKind.Targets, parseTufJson(bytes)) as unknown as Metadata<KindOf<K>>;
      root.verifyDelegate(kind, md);
      if (version !== undefined && md.signed.version !== version) {
        throw new Error(`claims version ${md.signed.version}`);
      }
      const claimed = md.signed.unrecognizedFields[PARTITION_FIELD];
      if (claimed !== this.set.partition) throw new Error(`names partition ${JSON.stringify(claimed)?.slice(0, 80)}`);
      return md;
    } catch (err) {
      throw new ServerError(
        'VALIDATION_FAILED',
        `${this.scope}/${fileName(kind, version)} does not verify against the trusted root`,
        { cause: err },
      );
    }
  }
}

/** Where the log index of a metadata file's leaf is kept, by its leaf hash. */
export function logIndexKey(leafHash: Uint8Array): string {
  return `log/${Buffer.from(leafHash).toString('hex')}.json`;
}

function fileName(kind: RoleKind, version: number | undefined): string {
  return version === undefined ? `${kind}.json` : `${version}.${kind}.json`;
}
