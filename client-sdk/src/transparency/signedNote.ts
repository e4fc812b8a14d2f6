import { createHash, createPublicKey, type KeyObject, verify } from 'node:crypto';

import { VerificationError } from '../errors';

/**
 * C2SP signed notes (https://c2sp.org/signed-note), the envelope of log checkpoints, and the
 * two signature kinds a device checks: the log's own Ed25519 signature (type 0x01) and a
 * witness's cosignature/v1 (type 0x04, https://c2sp.org/tlog-cosignature), which signs the
 * time it saw the checkpoint too.
 */
export const ED25519 = 0x01;
export const COSIGNATURE_V1 = 0x04;
/** A checkpoint is a few hundred bytes; its cosigned form a few more lines. */
export const MAX_NOTE_BYTES = 4096;
const MAX_SIGNATURES = 32;
const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');

/** A verifier key: `<name>+<key hash, 8 hex>+<base64(type || public key)>`. */
export interface VerifierKey {
  name: string;
  type: typeof ED25519 | typeof COSIGNATURE_V1;
  keyHash: Buffer;
  publicKey: KeyObject;
}

export interface NoteSignature {
  name: string;
  keyHash: Buffer;
  /** What follows the key hash: the signature (with a cosignature's timestamp first). */
  body: Buffer;
}

export interface SignedNote {
  /** The signed text, ending in a newline. */
  text: string;
  signatures: NoteSignature[];
}

function invalid(message: string): VerificationError {
  return new VerificationError('LOG_INVALID', message);
}

/** Key names are printable, without spaces or `+` (the separator of a verifier key). */
function validName(name: string): boolean {
  return name.length > 0 && name.length <= 256 && /^[\x21-\x2a\x2c-\x7e]+$/.test(name);
}

export function keyHash(name: string, type: number, publicKey: Uint8Array): Buffer {
  return createHash('sha256').update(`${name}\n`).update(Buffer.of(type)).update(publicKey).digest().subarray(0, 4);
}

export function formatVerifierKey(name: string, type: VerifierKey['type'], publicKey: Uint8Array): string {
  const material = Buffer.concat([Buffer.of(type), publicKey]).toString('base64');
  return `${name}+${keyHash(name, type, publicKey).toString('hex')}+${material}`;
}

export function parseVerifierKey(text: string): VerifierKey {
  // The key's base64 may itself hold '+': the name and hash are the first two fields.
  const m = /^([^+]+)\+([^+]+)\+(.+)$/.exec(text.trim());
  if (!m) throw invalid('a verifier key is <name>+<hash>+<key>');
  const [, name, hash, b64] = m as unknown as [string, string, string, string];
  const material = Buffer.from(b64, 'base64');
  if (!validName(name) || !/^[0-9a-f]{8}$/.test(hash) || material.length !== 33 || material.toString('base64') !== b64)
    throw invalid(`verifier key "${text.slice(0, 80)}" is malformed`);
  const type = material[0]!;
  if (type !== ED25519 && type !== COSIGNATURE_V1)
    throw invalid(`verifier key type 0x${type.toString(16)} unsupported`);
  const publicKey = material.subarray(1);
  if (!keyHash(name, type, publicKey).equals(Buffer.from(hash, 'hex')))
    throw invalid(`verifier key "${name}" has the wrong key hash`);
  return {
    name,
    type,
    keyHash: Buffer.from(hash, 'hex'),
    publicKey: createPublicKey({ key: Buffer.concat([ED25519_SPKI, publicKey]), format: 'der', type: 'spki' }),
  };
}

/** Splits a note into its text and signature lines; checks form only, never a signature. */
export function openNote(note: string): SignedNote {
  if (Buffer.byteLength(note) > MAX_NOTE_BYTES) throw invalid(`a note is at most ${MAX_NOTE_BYTES} bytes`);
  // Newlines only: a carriage return or other control character could show a reader other text.
  if (/[\x00-\x09\x0b-\x1f\x7f]/.test(note)) throw invalid('a note has a control character');
  const split = note.lastIndexOf('\n\n');
  if (split < 0 || !note.endsWith('\n')) throw invalid('a note is its text, a blank line and its signatures');
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) throw invalid(`a note has at most ${MAX_SIGNATURES} signatures`);
  const signatures = lines.map((line) => {
    const m = /^\u2014 (\S+) ([A-Za-z0-9+/]+={0,2})$/.exec(line);
    const raw = m ? Buffer.from(m[2]!, 'base64') : Buffer.alloc(0);
    if (!m || !validName(m[1]!) || raw.length < 5 || raw.toString('base64') !== m[2])
      throw invalid('a note signature line is malformed');
    return { name: m[1]!, keyHash: raw.subarray(0, 4), body: raw.subarray(4) };
  });
  return { text, signatures };
}

/** The signatures of `note` made by `key`: its name and key hash both match. */
function signaturesBy(note: SignedNote, key: VerifierKey): NoteSignature[] {
  return note.signatures.filter((s) => s.name === key.name && s.keyHash.equals(key.keyHash));
}

/** Does `key` (a log key, type 0x01) sign this note's text? */
export function signedBy(note: SignedNote, key: VerifierKey): boolean {
  if (key.type !== ED25519) return false;
  return signaturesBy(note, key).some(
    (s) => s.body.length === 64 && verify(null, Buffer.from(note.text), key.publicKey, s.body),
  );
}

/** What a witness signs (cosignature/v1): the time it checked the checkpoint, then the checkpoint. */
export function cosignedMessage(checkpointText: string, time: number): Buffer {
  return Buffer.from(`cosignature/v1\ntime ${time}\n${checkpointText}`);
}

/** The time of a valid cosignature of this note's text by `key` (type 0x04), or undefined. */
export function cosignedAt(note: SignedNote, key: VerifierKey): number | undefined {
  if (key.type !== COSIGNATURE_V1) return undefined;
  for (const s of signaturesBy(note, key)) {
    if (s.body.length !== 72) continue;
    const time = Number(s.body.readBigUInt64BE(0));
    if (!Number.isSafeInteger(time)) continue;
    if (verify(null, cosignedMessage(note.text, time), key.publicKey, s.body.subarray(8))) return time;
  }
  return undefined;
}

/** A signature line of `name` with this key hash: what a signer appends to a note. */
export function signatureLine(name: string, hash: Uint8Array, body: Uint8Array): string {
  return `\u2014 ${name} ${Buffer.concat([hash, body]).toString('base64')}\n`;
}
