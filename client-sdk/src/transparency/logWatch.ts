import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { writeFileAtomically } from '../durable';
import { VerificationError } from '../errors';
import {
  type Checkpoint,
  type LogPolicy,
  openCheckpoint,
  type PinnedLog,
  pinnedPolicy,
  readCheckpoint,
} from './checkpoint';
import { metadataLeaf } from './leaves';
import { HASH_BYTES, leafHash, verifyConsistency, verifyInclusion } from './merkle';
import { MAX_NOTE_BYTES } from './signedNote';

/** A signed metadata file the device trusts: its path in the repository, and its bytes. */
export interface TrustedFile {
  file: string;
  bytes: Uint8Array;
}

/**
 * What the API answers for one file: untrusted until every part is checked here. On the wire
 * each proof is one base64 string of its 32-byte hashes, one after the other (a list of strings
 * would add four bytes a hash to what a device downloads).
 */
export interface LogProofAnswer {
  checkpoint: string;
  index: number;
  inclusion: Buffer[];
  consistency: Buffer[];
}

export interface LogWatchOptions {
  policy: LogPolicy;
  /** Where the device keeps the newest checkpoint it verified, and the files it proved. */
  stateFile: string;
  /** Asks the (untrusted) API for a file's proofs, from the log size the device kept. */
  proofs(leafHex: string, from: number): Promise<unknown>;
}

interface WatchState {
  checkpoint?: string;
  /** Path in the repository -> sha256 of the bytes proved in the log. */
  proved: Record<string, string>;
}

/** Where a device keeps its view of the log, in its state directory beside the trusted metadata. */
export const logStateFile = (stateDir: string): string => join(stateDir, 'metadata', 'log.json');

/**
 * The newest checkpoint the device in `stateDir` verified, checked again against its pins
 * (so the witnesses that cosigned it are known); undefined before its first check.
 */
export function keptCheckpoint(stateDir: string, log: PinnedLog): Checkpoint | undefined {
  const { checkpoint } = readState(logStateFile(stateDir));
  return checkpoint === undefined ? undefined : openCheckpoint(checkpoint, pinnedPolicy(log));
}

/** A proof of a tree of 2^63 leaves has 63 hashes. */
const MAX_PROOF_HASHES = 63;
const MAX_STATE_BYTES = 64 * 1024;

/**
 * The device's view of the transparency log: the newest checkpoint it verified, kept across
 * restarts. A timestamp the device trusts must be in the log, and every checkpoint it accepts
 * must extend the one it kept (RFC 9162 consistency): a server that shows this device another
 * history than the rest of the fleet (a split view) has no such proof for one of the two
 * forks. A file proved once is not asked about again, so an unchanged timestamp costs nothing.
 * The state is written atomically (synced, renamed): a power cut leaves the old state or the new.
 * It is written behind the check, while the refresh goes on: an older kept checkpoint after a
 * cut is still a valid anchor (every checkpoint since extended it), and the next check waits
 * for the write: a failed one is refused there (LOG_INVALID) rather than going unseen.
 */
export class LogWatch {
  /** The state as this watch last kept it: what it reads until the process ends. */
  private held: WatchState | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly o: LogWatchOptions) {}

  /** Resolves once the kept state is on disk; LOG_INVALID if it could not be written. */
  async settled(): Promise<void> {
    await this.writing;
  }

  /** The newest checkpoint this device verified, if any. */
  kept(): Checkpoint | undefined {
    const { checkpoint } = this.state();
    return checkpoint ? readCheckpoint(checkpoint, this.o.policy) : undefined;
  }

  /** Each file in the log, in one history with what this device saw before; a refusal with its code otherwise. */
  async check(files: readonly TrustedFile[]): Promise<void> {
    // A failed write is refused once; this check then starts again from what is on disk.
    const previous = this.writing;
    this.writing = Promise.resolve();
    await previous;
    const state = this.state();
    const digest = (f: TrustedFile) => createHash('sha256').update(f.bytes).digest('hex');
    const fresh = files.filter((f) => state.proved[f.file] !== digest(f));
    if (fresh.length === 0) return;
    // Verified when it was kept; the state file is the device's own, like its metadata folder.
    let kept = state.checkpoint ? readCheckpoint(state.checkpoint, this.o.policy) : undefined;
    for (const f of fresh) {
      const leaf = leafHash(metadataLeaf(f.file, f.bytes));
      const answer = parseAnswer(await this.o.proofs(leaf.toString('hex'), kept?.size ?? 0));
      const cp = openCheckpoint(answer.checkpoint, this.o.policy);
      if (kept) extends_(kept, cp, answer.consistency);
      if (!verifyInclusion({ index: answer.index, size: cp.size, hash: leaf }, answer.inclusion, cp.root))
        throw new VerificationError('LOG_NOT_INCLUDED', `${f.file} is not in the transparency log at ${cp.size}`);
      kept = cp;
      state.proved[f.file] = digest(f);
      state.checkpoint = cp.note;
    }
    this.held = state;
    const text = JSON.stringify(state);
    this.writing = writeFileAtomically(this.o.stateFile, text).catch((err: unknown) => {
      this.held = undefined;
      throw new VerificationError('LOG_INVALID', `the log state could not be written to ${this.o.stateFile}`, {
        cause: err,
      });
    });
    // Seen by the next check or settled(); not an unhandled rejection meanwhile.
    this.writing.catch(() => undefined);
  }

  /** A copy of the kept state (a check that fails midway changes nothing kept). */
  private state(): WatchState {
    if (this.held) return { ...this.held, proved: { ...this.held.proved } };
    return readState(this.o.stateFile);
  }
}

/** The state a device wrote (none yet: nothing kept); LOG_INVALID for anything else, read or not. */
function readState(stateFile: string): WatchState {
  if (!existsSync(stateFile)) return { proved: {} };
  try {
    if (statSync(stateFile).size > MAX_STATE_BYTES) throw new Error('too large');
    const parsed = JSON.parse(readFileSync(stateFile, 'utf8')) as Partial<WatchState>;
    return {
      proved: { ...parsed.proved },
      ...(typeof parsed.checkpoint === 'string' && { checkpoint: parsed.checkpoint }),
    };
  } catch (err) {
    throw new VerificationError('LOG_INVALID', `${stateFile} is not the log state this device wrote`, { cause: err });
  }
}

/** `next` is `kept`'s history with entries added: never shorter, never another tree. */
function extends_(kept: Checkpoint, next: Checkpoint, proof: Buffer[]): void {
  if (next.size < kept.size)
    throw new VerificationError('LOG_INCONSISTENT', `the log went back from ${kept.size} to ${next.size} entries`);
  if (!verifyConsistency(kept, next, proof))
    throw new VerificationError(
      'LOG_INCONSISTENT',
      `the log at ${next.size} entries is not an extension of the one this device kept at ${kept.size}: a split view`,
    );
}

function parseAnswer(raw: unknown): LogProofAnswer {
  if (typeof raw !== 'object' || raw === null) throw malformed();
  const a = raw as Partial<Record<keyof LogProofAnswer, unknown>>;
  const hashes = (text: unknown): Buffer[] => {
    const bytes = typeof text === 'string' ? Buffer.from(text, 'base64') : undefined;
    if (!bytes || bytes.toString('base64') !== text || bytes.length % HASH_BYTES !== 0) throw malformed();
    if (bytes.length / HASH_BYTES > MAX_PROOF_HASHES) throw malformed();
    return Array.from({ length: bytes.length / HASH_BYTES }, (_, i) =>
      bytes.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES),
    );
  };
  if (typeof a.checkpoint !== 'string' || a.checkpoint.length > MAX_NOTE_BYTES || !Number.isSafeInteger(a.index))
    throw malformed();
  return {
    checkpoint: a.checkpoint,
    index: a.index as number,
    inclusion: hashes(a.inclusion),
    consistency: hashes(a.consistency),
  };
}

function malformed(): VerificationError {
  return new VerificationError('LOG_INVALID', 'the log proofs the API sent are malformed');
}
