import { createHash } from 'node:crypto';

import { Metadata, MetaFile, Snapshot, TargetFile, Targets, Timestamp } from '@tufjs/models';

import { PARTITION_FIELD, SIGNED_AT_FIELD } from './layout';
import { signMetadata, type TufSigner } from './tufKeys';

export const SPEC_VERSION = '1.0.31';

/** Where a role's file goes: its version, its expiry and its file set (absent: the flat one). */
export interface RoleFile {
  version: number;
  expires: string;
  partition?: string;
}

/** An expiry `hours` from now, in TUF's format (seconds, `Z`). */
export function expiresIn(hours: number): string {
  return new Date(Date.now() + hours * 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** When a timestamp was signed (its SIGNED_AT_FIELD); NaN when it names no valid time. */
export function signedAtOf(timestamp: Timestamp): number {
  const at = timestamp.unrecognizedFields[SIGNED_AT_FIELD];
  return typeof at === 'string' ? Date.parse(at) : NaN;
}

/** The signed field that binds a partition's files to it (trust/layout.ts). */
function bound(partition: string | undefined): { unrecognizedFields?: Record<string, string> } {
  return partition ? { unrecognizedFields: { [PARTITION_FIELD]: partition } } : {};
}

/** Targets metadata listing `targets`, not signed yet: the caller changes it, then signs it. */
export function targetsMetadata(file: RoleFile & { targets?: Record<string, TargetFile> }): Metadata<Targets> {
  return new Metadata(
    new Targets({
      specVersion: SPEC_VERSION,
      version: file.version,
      expires: file.expires,
      ...(file.targets ? { targets: file.targets } : {}),
      ...bound(file.partition),
    }),
  );
}

/** A snapshot naming targets version `targetsVersion`, signed, as stored bytes. */
export function signedSnapshot(file: RoleFile & { targetsVersion: number }, signers: TufSigner[]): Buffer {
  const md = new Metadata(
    new Snapshot({
      specVersion: SPEC_VERSION,
      version: file.version,
      expires: file.expires,
      meta: { 'targets.json': new MetaFile({ version: file.targetsVersion }) },
      ...bound(file.partition),
    }),
  );
  signMetadata(md, signers);
  return Buffer.from(JSON.stringify(md.toJSON()));
}

/**
 * A timestamp naming the snapshot whose stored bytes are `snapshot`, signed, as stored bytes.
 * It says when it was signed (to the millisecond, unlike TUF's expiry), so a device entering a
 * partition can refuse an old one (D-18).
 */
export function signedTimestamp(
  file: RoleFile & { snapshot: { version: number; bytes: Buffer } },
  signers: TufSigner[],
): Buffer {
  const md = new Metadata(
    new Timestamp({
      specVersion: SPEC_VERSION,
      version: file.version,
      expires: file.expires,
      snapshotMeta: new MetaFile({
        version: file.snapshot.version,
        length: file.snapshot.bytes.length,
        hashes: { sha256: createHash('sha256').update(file.snapshot.bytes).digest('hex') },
      }),
      unrecognizedFields: { ...bound(file.partition).unrecognizedFields, [SIGNED_AT_FIELD]: new Date().toISOString() },
    }),
  );
  signMetadata(md, signers);
  return Buffer.from(JSON.stringify(md.toJSON()));
}

/** A target entry as TUF stores it, from the release model's fields. */
export function targetFile(entry: {
  name: string;
  length: number;
  sha256: string;
  custom: Record<string, unknown>;
}): TargetFile {
  return new TargetFile({
    path: entry.name,
    length: entry.length,
    hashes: { sha256: entry.sha256 },
    unrecognizedFields: { custom: entry.custom as never },
  });
}
