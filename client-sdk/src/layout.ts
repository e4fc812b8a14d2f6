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

/** A partition's name, and its path in URLs and folders: `channel/hardwareId`. */
export function partitionOf(channel: string, hardwareId: string): string {
  return `${channel}/${hardwareId}`;
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

function signedPart(json: unknown): Record<string, unknown> | undefined {
  const signed = (json as { signed?: unknown } | null)?.signed;
  return typeof signed === 'object' && signed !== null ? (signed as Record<string, unknown>) : undefined;
}
