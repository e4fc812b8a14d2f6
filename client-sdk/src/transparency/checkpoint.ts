import { VerificationError } from '../errors';
import { HASH_BYTES } from './merkle';
import { COSIGNATURE_V1, cosignedAt, openNote, parseVerifierKey, signedBy, type VerifierKey } from './signedNote';

/** A log's signed statement of its size and root (https://c2sp.org/tlog-checkpoint). */
export interface Checkpoint {
  origin: string;
  size: number;
  root: Buffer;
  /** The signed note as received: what a device keeps, and what it shows an auditor. */
  note: string;
  /** The witnesses whose cosignatures verified, by key name. */
  witnessedBy: string[];
}

/** Whom a device believes: the log's key, and how many of these witnesses must cosign. */
export interface LogPolicy {
  origin: string;
  logKey: VerifierKey;
  witnesses: VerifierKey[];
  quorum: number;
}

/** A policy from its configured strings: verifier keys as the log and witnesses print them. */
export function logPolicy(c: {
  origin: string;
  logKey: string;
  witnesses?: readonly string[];
  quorum?: number;
}): LogPolicy {
  const witnesses = (c.witnesses ?? []).map(parseVerifierKey);
  // One witness listed twice (under two names, even) would count twice towards the quorum; a
  // key that is not a cosignature/v1 key could never count at all.
  const raw = (k: VerifierKey) => k.publicKey.export({ format: 'der', type: 'spki' }).toString('hex');
  if (new Set(witnesses.map(raw)).size !== witnesses.length)
    throw new VerificationError('LOG_INVALID', 'a witness is listed twice');
  if (witnesses.some((w) => w.type !== COSIGNATURE_V1))
    throw new VerificationError('LOG_INVALID', 'a witness key is a cosignature/v1 key (type 0x04)');
  const quorum = c.quorum ?? 0;
  if (!Number.isSafeInteger(quorum) || quorum < 0 || quorum > witnesses.length)
    throw new VerificationError('LOG_INVALID', `a witness quorum is 0 to ${witnesses.length}, got ${String(quorum)}`);
  return { origin: c.origin, logKey: parseVerifierKey(c.logKey), witnesses, quorum };
}

/** The log a device is pinned to: its verifier key, and the witnesses of which `quorum` must cosign. */
export interface PinnedLog {
  key: string;
  witnesses?: string[];
  quorum?: number;
}

/** The policy of a pinned log: the origin is the name in the log's verifier key. */
export function pinnedPolicy(log: PinnedLog): LogPolicy {
  return logPolicy({ origin: parseVerifierKey(log.key).name, logKey: log.key, ...log });
}

/**
 * The checkpoint in `note`, if the log signed it and the quorum of witnesses cosigned it;
 * otherwise a refusal with its code. Extension lines are allowed and ignored.
 */
export function openCheckpoint(note: string, policy: LogPolicy): Checkpoint {
  const cp = readCheckpoint(note, policy);
  const signed = openNote(note);
  if (!signedBy(signed, policy.logKey))
    throw new VerificationError('LOG_UNTRUSTED', `checkpoint not signed by the log key ${policy.logKey.name}`);
  const witnessedBy = policy.witnesses.filter((w) => cosignedAt(signed, w) !== undefined).map((w) => w.name);
  if (witnessedBy.length < policy.quorum)
    throw new VerificationError(
      'LOG_UNWITNESSED',
      `checkpoint cosigned by ${witnessedBy.length} of the ${policy.quorum} witnesses required`,
    );
  return { ...cp, witnessedBy };
}

/**
 * A checkpoint's origin, size and root, its signatures not checked: only for one this device
 * verified with openCheckpoint before and kept in its own state (checking again costs two
 * signature verifications a refresh).
 */
export function readCheckpoint(note: string, policy: Pick<LogPolicy, 'origin'>): Checkpoint {
  const lines = openNote(note).text.slice(0, -1).split('\n');
  const shape = () => new VerificationError('LOG_INVALID', 'a checkpoint is its origin, size and root hash');
  if (lines.length < 3) throw shape();
  // Extension lines are allowed (and ignored), empty ones are not (tlog-checkpoint).
  if (lines.slice(3).some((l) => l === '')) throw shape();
  const [origin, sizeText, rootText] = lines as [string, string, string];
  const root = Buffer.from(rootText, 'base64');
  const sizeOk = /^(0|[1-9][0-9]{0,15})$/.test(sizeText) && Number.isSafeInteger(Number(sizeText));
  if (!sizeOk || root.length !== HASH_BYTES || root.toString('base64') !== rootText) throw shape();
  if (origin !== policy.origin)
    throw new VerificationError('LOG_UNTRUSTED', `checkpoint of log "${origin}", not "${policy.origin}"`);
  return { origin, size: Number(sizeText), root, note, witnessedBy: [] };
}
