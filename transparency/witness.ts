import { createPublicKey, type KeyObject, sign } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

import {
  type Checkpoint,
  COSIGNATURE_V1,
  cosignedMessage,
  formatVerifierKey,
  keyHash,
  type LogPolicy,
  MAX_NOTE_BYTES,
  openCheckpoint,
  signatureLine,
  verifyConsistency,
} from '@enigm-ota/client-sdk/transparency';

/** The largest add-checkpoint body: an old size, 63 proof lines and a checkpoint. */
export const MAX_WITNESS_BODY = 64 * 46 + MAX_NOTE_BYTES;
const MAX_PROOF_LINES = 63;

/** An HTTP answer of the tlog-witness protocol (https://c2sp.org/tlog-witness). */
export interface WitnessAnswer {
  status: 200 | 400 | 403 | 404 | 409 | 422 | 500;
  contentType: string;
  body: string;
}

export interface WitnessOptions {
  /** The witness's key name, as devices list it in their verifier keys. */
  name: string;
  privateKey: KeyObject;
  /** The one log it witnesses: its origin and key. */
  log: LogPolicy;
  /** The newest checkpoint it cosigned, kept across restarts. */
  stateFile: string;
  /** Seconds since the epoch (the cosignature's time). */
  now?: () => number;
}

/**
 * A witness: cosigns a log's checkpoint only once it has checked it extends the last one it
 * cosigned (an RFC 9162 consistency proof), so a log cannot show two histories and have both
 * witnessed. Speaks the tlog-witness protocol, which Tessera's witness client uses. Requests
 * are answered one at a time: each reads and writes the kept checkpoint.
 */
export class Witness {
  private readonly raw: Buffer;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: WitnessOptions) {
    this.raw = createPublicKey(o.privateKey).export({ format: 'der', type: 'spki' }).subarray(-32);
  }

  /** What devices and the log's policy pin: `<name>+<hash>+<key>` (cosignature/v1). */
  verifierKey(): string {
    return formatVerifierKey(this.o.name, COSIGNATURE_V1, this.raw);
  }

  /** The newest checkpoint this witness cosigned, if any. */
  kept(): Checkpoint | undefined {
    if (!existsSync(this.o.stateFile)) return undefined;
    return openCheckpoint(readFileSync(this.o.stateFile, 'utf8'), this.o.log);
  }

  addCheckpoint(body: string): Promise<WitnessAnswer> {
    const answer = this.queue.then(() => this.add(body));
    this.queue = answer.catch(() => undefined);
    return answer;
  }

  private add(body: string): WitnessAnswer {
    try {
      return this.check(body);
    } catch (err) {
      // Its own state unreadable: cosign nothing until an operator looks.
      return text(500, `not cosigned: ${(err as Error).message}`);
    }
  }

  private check(body: string): WitnessAnswer {
    const request = parseRequest(body);
    if ('status' in request) return request;
    let cp: Checkpoint;
    try {
      cp = openCheckpoint(request.checkpoint, { ...this.o.log, witnesses: [], quorum: 0 });
    } catch (err) {
      const code = (err as { code?: string }).code;
      const unknownLog = code === 'LOG_UNTRUSTED' && !request.checkpoint.startsWith(`${this.o.log.origin}\n`);
      return text(unknownLog ? 404 : code === 'LOG_UNTRUSTED' ? 403 : 400, (err as Error).message);
    }
    if (request.old > cp.size) return text(400, `old size ${request.old} is beyond the checkpoint's ${cp.size}`);
    const kept = this.kept();
    if (request.old !== (kept?.size ?? 0))
      return { status: 409, contentType: 'text/x.tlog.size', body: `${kept?.size ?? 0}\n` };
    // Every tree extends the empty one: a first checkpoint of size 0 proves nothing to check.
    if (kept && kept.size > 0 && !verifyConsistency(kept, cp, request.proof)) {
      return kept.size === cp.size
        ? text(409, `another root at size ${cp.size}: the log forked`)
        : text(422, `the checkpoint at ${cp.size} does not extend the one cosigned at ${kept.size}`);
    }
    const line = this.cosign(cp);
    // Kept durably before the cosignature leaves: a restarted witness never cosigns a fork of it.
    writeDurably(this.o.stateFile, request.checkpoint);
    return text(200, line);
  }

  private cosign(cp: Checkpoint): string {
    const time = Math.floor(this.o.now?.() ?? Date.now() / 1000);
    return cosignatureLine({ name: this.o.name, privateKey: this.o.privateKey, raw: this.raw }, cp.note, time);
  }
}

/** The cosignature/v1 line a witness with this key adds to a checkpoint note, made at `time` (seconds). */
export function cosignatureLine(
  witness: { name: string; privateKey: KeyObject; raw: Uint8Array },
  note: string,
  time: number,
): string {
  const noteText = note.slice(0, note.lastIndexOf('\n\n') + 1);
  const stamp = Buffer.alloc(8);
  stamp.writeBigUInt64BE(BigInt(time));
  const sig = sign(null, cosignedMessage(noteText, time), witness.privateKey);
  const hash = keyHash(witness.name, COSIGNATURE_V1, witness.raw);
  return signatureLine(witness.name, hash, Buffer.concat([stamp, sig]));
}

/** Written, synced, renamed, and the folder synced: a power cut leaves the old state or the new. */
function writeDurably(file: string, data: string): void {
  const fd = openSync(`${file}.tmp`, 'w');
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(`${file}.tmp`, file);
  const dir = openSync(dirname(file), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

function text(status: WitnessAnswer['status'], body: string): WitnessAnswer {
  return { status, contentType: 'text/plain; charset=utf-8', body: body.endsWith('\n') ? body : `${body}\n` };
}

/** `old <size>`, the proof's lines, a blank line, then the checkpoint. */
function parseRequest(body: string): { old: number; proof: Buffer[]; checkpoint: string } | WitnessAnswer {
  const blank = body.indexOf('\n\n');
  const head = blank < 0 ? [] : body.slice(0, blank).split('\n');
  const old = /^old (0|[1-9][0-9]{0,15})$/.exec(head[0] ?? '');
  const proof = head.slice(1).map((l) => Buffer.from(l, 'base64'));
  if (
    !old ||
    proof.length > MAX_PROOF_LINES ||
    proof.some((p, i) => p.length !== 32 || p.toString('base64') !== head[i + 1])
  )
    return text(400, 'the body is "old <size>", the proof lines, a blank line and the checkpoint');
  return { old: Number(old[1]), proof, checkpoint: body.slice(blank + 2) };
}
