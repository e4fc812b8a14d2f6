import { createHash } from 'node:crypto';

/**
 * RFC 9162 (Certificate Transparency 2.0) Merkle tree hashing and proof verification, the tree
 * the transparency log (Tessera) keeps. Sizes and indexes are plain numbers up to 2^53: the
 * arithmetic below divides rather than shifts, since JavaScript's shifts are 32-bit.
 */
export const HASH_BYTES = 32;

export function leafHash(entry: Uint8Array): Buffer {
  return createHash('sha256').update(Buffer.of(0)).update(entry).digest();
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return createHash('sha256').update(Buffer.of(1)).update(left).update(right).digest();
}

/** The root of a tree of these leaf hashes (RFC 9162 2.1.1): an odd node is carried up as is. */
export function rootOf(leafHashes: readonly Uint8Array[]): Buffer {
  if (leafHashes.length === 0) return createHash('sha256').digest();
  let level: Buffer[] = leafHashes.map((h) => Buffer.from(h));
  while (level.length > 1) {
    const up: Buffer[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) up.push(nodeHash(level[i]!, level[i + 1]!));
    if (level.length % 2 === 1) up.push(level[level.length - 1]!);
    level = up;
  }
  return level[0]!;
}

const odd = (n: number): boolean => n % 2 === 1;
const half = (n: number): number => Math.floor(n / 2);

/** RFC 9162 2.1.3.2: is the leaf with this hash at `index` of the tree of `size` with `root`? */
export function verifyInclusion(
  leaf: { index: number; size: number; hash: Uint8Array },
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  const at = leaf;
  if (!validSize(at.size) || !Number.isSafeInteger(at.index) || at.index < 0 || at.index >= at.size) return false;
  if (!proof.every((p) => p.length === HASH_BYTES)) return false;
  let fn = at.index;
  let sn = at.size - 1;
  let r: Buffer = Buffer.from(leaf.hash);
  for (const p of proof) {
    if (sn === 0) return false;
    if (odd(fn) || fn === sn) {
      r = nodeHash(p, r);
      while (!odd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && r.equals(root);
}

/**
 * RFC 9162 2.1.4.2: is the tree of `second.size` an append-only extension of the tree of
 * `first.size`? A fork (a split view) has no such proof.
 */
export function verifyConsistency(
  first: { size: number; root: Uint8Array },
  second: { size: number; root: Uint8Array },
  proof: readonly Uint8Array[],
): boolean {
  if (!validSize(first.size) || !validSize(second.size) || first.size > second.size) return false;
  if (!proof.every((p) => p.length === HASH_BYTES)) return false;
  if (first.size === second.size) return proof.length === 0 && Buffer.from(first.root).equals(second.root);
  if (proof.length === 0) return false;
  const path = isPowerOfTwo(first.size) ? [first.root, ...proof] : [...proof];
  let fn = first.size - 1;
  let sn = second.size - 1;
  while (odd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr: Buffer = Buffer.from(path[0]!);
  let sr: Buffer = Buffer.from(path[0]!);
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (odd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (!odd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && fr.equals(first.root) && sr.equals(second.root);
}

function validSize(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0;
}

function isPowerOfTwo(n: number): boolean {
  let m = n;
  while (m > 1 && !odd(m)) m = half(m);
  return m === 1;
}
