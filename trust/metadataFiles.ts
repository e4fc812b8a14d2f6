import type { RepositoryName } from '@enigm-ota/client-sdk';
import { Metadata, type MetadataKind, type Root, type Snapshot, type Targets, type Timestamp } from '@tufjs/models';

import { ServerError } from '../common/errors';
import type { Storage } from '../infra/storage';
import { PARTITION_FIELD, partitionFolder } from './layout';
import { parseTufJson } from './tufJson';

export const MAX_METADATA_BYTES = 8 * 1024 * 1024;

type RoleKind = MetadataKind.Timestamp | MetadataKind.Snapshot | MetadataKind.Targets;
type KindOf<K> = K extends MetadataKind.Timestamp ? Timestamp : K extends MetadataKind.Snapshot ? Snapshot : Targets;

/** A metadata file read from storage that verified against the trusted root. */
export interface VerifiedFile<K extends RoleKind> {
  md: Metadata<KindOf<K>>;
  bytes: Buffer;
  etag: string;
}

/** What a stored file must be to be adopted (readVerified). */
export interface Expected<K extends RoleKind> {
  kind: K;
  /** The delegated role whose keys must sign it. */
  role: 'timestamp' | 'snapshot' | 'targets';
  /** The root whose keys decide. */
  root: Metadata<Root>;
  /** The version its file name claims (versioned files). */
  version?: number;
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
    readonly set: { repo: RepositoryName; partition?: string },
  ) {
    this.scope = set.partition ? partitionFolder(set.repo, set.partition) : set.repo;
  }

  /** Where a file of this set is in storage: roots are the repository's, the rest the set's own. */
  storageKey(file: string): string {
    return /^[0-9]+\.root\.json$/.test(file) ? `${this.set.repo}/${file}` : `${this.scope}/${file}`;
  }

  rootKey(version: number): string {
    return this.storageKey(`${version}.root.json`);
  }

  async exists(file: string): Promise<boolean> {
    return (await this.storage.stat('metadata', this.storageKey(file))) !== undefined;
  }

  get(file: string): Promise<Buffer | undefined> {
    return this.storage.getBytes('metadata', this.storageKey(file), MAX_METADATA_BYTES);
  }

  /** Writes `file` only if absent (If-None-Match): false when another writer holds it. */
  claim(file: string, bytes: Buffer): Promise<boolean> {
    return this.storage.putBytesIfAbsent('metadata', this.storageKey(file), bytes);
  }

  /** Replaces `file` only if it is still the one read (If-Match on its ETag). */
  replace(file: string, bytes: Buffer, etag: string): Promise<boolean> {
    return this.storage.putBytesIfMatch('metadata', this.storageKey(file), { bytes, etag });
  }

  /**
   * A file as stored, adopted only if it verifies against the root, carries the version its
   * name claims (an old signed file copied into a newer slot is refused) and names this file
   * set's partition (a validly signed file of another partition, or of the flat set, is refused).
   * Undefined when absent; VALIDATION_FAILED when it does not verify.
   */
  async readVerified<K extends RoleKind>(file: string, expected: Expected<K>): Promise<VerifiedFile<K> | undefined> {
    const found = await this.storage.getVersioned('metadata', this.storageKey(file), MAX_METADATA_BYTES);
    if (!found) return undefined;
    try {
      const md = Metadata.fromJSON(
        expected.kind as MetadataKind.Targets,
        parseTufJson(found.bytes),
      ) as unknown as Metadata<KindOf<K>>;
      expected.root.verifyDelegate(expected.role, md);
      if (expected.version !== undefined && md.signed.version !== expected.version) {
        throw new Error(`claims version ${md.signed.version}`);
      }
      const claimed = md.signed.unrecognizedFields[PARTITION_FIELD];
      if (claimed !== this.set.partition) throw new Error(`names partition ${JSON.stringify(claimed)?.slice(0, 80)}`);
      return { md, bytes: found.bytes, etag: found.etag };
    } catch (err) {
      throw new ServerError('VALIDATION_FAILED', `${this.scope}/${file} does not verify against the trusted root`, {
        cause: err,
      });
    }
  }
}
