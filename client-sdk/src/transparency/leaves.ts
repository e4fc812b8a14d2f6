import { createHash } from 'node:crypto';

/**
 * The log entry of a signed metadata file, as the signer appends it before publishing and as a
 * device rebuilds it from the bytes it fetched: the file's place in the repository and its
 * digest, in this key order (the entry is compared byte for byte).
 */
export function metadataLeaf(file: string, bytes: Uint8Array): Buffer {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return Buffer.from(JSON.stringify({ v: 1, kind: 'metadata', file, sha256, length: bytes.length }));
}
