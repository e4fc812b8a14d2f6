// The transparency log as a device and an auditor check it: checkpoints (signed notes with
// witness cosignatures), RFC 9162 proofs, and the entries of signed metadata.
export type { Checkpoint, LogPolicy, PinnedLog } from './checkpoint';
export { logPolicy, openCheckpoint, pinnedPolicy, readCheckpoint } from './checkpoint';
export { metadataLeaf } from './leaves';
export type { LogProofAnswer, LogWatchOptions, TrustedFile } from './logWatch';
export { keptCheckpoint, logStateFile, LogWatch } from './logWatch';
export { HASH_BYTES, leafHash, nodeHash, rootOf, verifyConsistency, verifyInclusion } from './merkle';
export type { NoteSignature, SignedNote, VerifierKey } from './signedNote';
export {
  COSIGNATURE_V1,
  cosignedAt,
  cosignedMessage,
  ED25519,
  formatVerifierKey,
  keyHash,
  MAX_NOTE_BYTES,
  openNote,
  parseVerifierKey,
  signatureLine,
  signedBy,
} from './signedNote';
