import { VerificationError } from './errors';

/**
 * The repository layout a root announces (D-16). A root carrying LAYOUT_FIELD =
 * PARTITIONED_LAYOUT puts its repository in partitions, one TUF file set (targets, snapshot,
 * timestamp) per channel and hardware id, all under that root; without it the repository is
 * one flat file set. The field is signed by the root keys, so only a root change the device
 * follows moves it, and the device picks its own partition from its own configuration.
 */
export const LAYOUT_FIELD = 'x-enigm-layout';
export const PARTITIONED_LAYOUT = 'channel-hardware/v1';
/** Each partition file names its partition in its signed part (checked before tuf-js keeps it). */
export const PARTITION_FIELD = 'x-enigm-partition';
/** When the server signed a timestamp (ISO 8601, in its signed part): the partition entry bound (D-18). */
export const SIGNED_AT_FIELD = 'x-enigm-signed-at';

/** A partition's name, and its path in URLs and folders: `channel/hardwareId`. */
export function partitionOf(channel: string, hardwareId: string): string {
  return `${channel}/${hardwareId}`;
}

/**
 * Where a file set's files are in the repository: `<repo>` for the flat set,
 * `<repo>/p/<channel>/<hardwareId>` for a partition. The server stores them there, and a log
 * entry names a file by this path, so a device rebuilds the entry of a file it holds.
 */
export function partitionFolder(repo: string, partition: string): string {
  return `${repo}/p/${partition}`;
}

/** Whether a trusted root's JSON (as stored: `{ signed, signatures }`) announces partitions. */
export function announcesPartitions(root: unknown): boolean {
  return signedPart(root)?.[LAYOUT_FIELD] === PARTITIONED_LAYOUT;
}

/**
 * Fails unless a downloaded file names `partition` (undefined: a flat repository's files name
 * none; roots are shared and name none). Run on the bytes before tuf-js verifies and stores
 * them, so a validly signed file of another partition never moves this file set's versions;
 * the signature tuf-js then checks covers the field.
 */
export function checkPartitionFile(file: string, bytes: Uint8Array, partition: string | undefined): void {
  if (/(^|\/)([0-9]+\.)?root\.json$/.test(file)) return;
  let claimed: unknown;
  try {
    claimed = signedPart(JSON.parse(new TextDecoder().decode(bytes)))?.[PARTITION_FIELD];
  } catch {
    return; // not JSON: tuf-js refuses it with its own code
  }
  if (claimed !== partition)
    throw new Error(
      `${file} names partition ${JSON.stringify(claimed ?? null).slice(0, 80)}, not ${partition ?? 'none (flat)'}`,
    );
}

/**
 * D-18: a partition's timestamp.json the device does not hold yet must have been signed at
 * most `maxAgeMs` before the device's clock. A device entering a partition (the move from
 * flat files, a channel change, a return after a while) has no version of it to compare
 * with, so without this bound any unexpired state recorded before a pause or a withdrawal
 * would be trusted on first use. Run on the bytes before tuf-js verifies and keeps them (a
 * refused file is never stored as trusted); the signature tuf-js then checks covers the
 * field. A file without a signing time, or with one that is not a date, is refused.
 */
export function checkSignedRecently(bytes: Uint8Array, bound: { now: Date; maxAgeMs: number }): void {
  let signedAt: unknown;
  try {
    signedAt = signedPart(JSON.parse(new TextDecoder().decode(bytes)))?.[SIGNED_AT_FIELD];
  } catch {
    signedAt = undefined;
  }
  const age = bound.now.getTime() - (typeof signedAt === 'string' ? Date.parse(signedAt) : NaN);
  // Written so that NaN (no signing time, a broken clock or setting) refuses.
  if (!(age <= bound.maxAgeMs)) {
    throw new VerificationError(
      'METADATA_STALE',
      `partition timestamp signed at ${JSON.stringify(signedAt ?? null).slice(0, 40)}: not within ${bound.maxAgeMs} ms of the device's clock`,
    );
  }
}

function signedPart(json: unknown): Record<string, unknown> | undefined {
  const signed = (json as { signed?: unknown } | null)?.signed;
  return typeof signed === 'object' && signed !== null ? (signed as Record<string, unknown>) : undefined;
}
