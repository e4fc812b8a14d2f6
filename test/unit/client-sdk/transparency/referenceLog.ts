import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';

import {
  ED25519,
  formatVerifierKey,
  keyHash,
  leafHash,
  nodeHash,
  signatureLine,
} from '@enigm-ota/client-sdk/transparency';

/*
 * A log written straight from RFC 6962 2.1's recursive definitions (MTH, PATH, PROOF), signed
 * like a checkpoint of the real log: the independent reference the SDK's iterative checks
 * are tested against, and the forked logs a split view is made of.
 */
const split = (n: number): number => {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
};
export const mth = (d: Buffer[]): Buffer =>
  d.length === 1 ? d[0]! : nodeHash(mth(d.slice(0, split(d.length))), mth(d.slice(split(d.length))));
export const path = (m: number, d: Buffer[]): Buffer[] => {
  if (d.length === 1) return [];
  const k = split(d.length);
  return m < k ? [...path(m, d.slice(0, k)), mth(d.slice(k))] : [...path(m - k, d.slice(k)), mth(d.slice(0, k))];
};
export const subproof = (m: number, d: Buffer[], b: boolean): Buffer[] => {
  if (m === d.length) return b ? [] : [mth(d)];
  const k = split(d.length);
  return m <= k
    ? [...subproof(m, d.slice(0, k), b), mth(d.slice(k))]
    : [...subproof(m - k, d.slice(k), false), mth(d.slice(0, k))];
};

/** The log's signing key and its verifier key. */
export function logKey(origin: string): { origin: string; privateKey: KeyObject; raw: Buffer; vkey: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  return { origin, privateKey, raw, vkey: formatVerifierKey(origin, ED25519, raw) };
}

/** An append-only log in memory: entries, checkpoints signed by `key`, and the proofs of RFC 6962. */
export class ReferenceLog {
  readonly entries: Buffer[] = [];

  constructor(private readonly key: ReturnType<typeof logKey>) {}

  append(entry: Buffer): number {
    this.entries.push(entry);
    return this.entries.length - 1;
  }

  /** A copy sharing this log's entries so far: a fork once either is appended to. */
  fork(): ReferenceLog {
    const copy = new ReferenceLog(this.key);
    copy.entries.push(...this.entries);
    return copy;
  }

  checkpoint(size = this.entries.length): string {
    const body = `${this.key.origin}\n${size}\n${mth(this.hashes(size)).toString('base64')}\n`;
    const sig = sign(null, Buffer.from(body), this.key.privateKey);
    return `${body}\n${signatureLine(this.key.origin, keyHash(this.key.origin, ED25519, this.key.raw), sig)}`;
  }

  /** What the API answers a device for the entry at `index`, from the size the device kept. */
  answer(index: number, from: number): { checkpoint: string; index: number; inclusion: string; consistency: string } {
    const size = this.entries.length;
    const b64 = (h: Buffer[]) => Buffer.concat(h).toString('base64');
    return {
      checkpoint: this.checkpoint(size),
      index,
      inclusion: b64(path(index, this.hashes(size))),
      consistency: b64(from > 0 && from < size ? subproof(from, this.hashes(size), true) : []),
    };
  }

  private hashes(size: number): Buffer[] {
    return this.entries.slice(0, size).map(leafHash);
  }
}
