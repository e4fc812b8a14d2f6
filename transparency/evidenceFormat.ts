/**
 * The evidence file (ADR 0080): a tar of `manifest.json`, `checkpoint` (the signed note every
 * proof is against), the logged files (`metadata/<storage key>`, `events/<id>.json`,
 * `receipts/<id>.json`: the bytes each leaf was made from) and `certificates/<sha256>.der`
 * (bound by the digest a receipt leaf names). The manifest lists each logged file with its
 * leaf index and inclusion proof (the hashes concatenated, base64); `index` null: not in the log.
 */
export const EVIDENCE_FORMAT = 'enigm-ota/evidence/v1';

export interface EvidenceEntry {
  path: string;
  index: number | null;
  proof: string | null;
}

export interface EvidenceManifest {
  format: typeof EVIDENCE_FORMAT;
  release: { channel: string; version: string; target: { name: string; sha256: string; length: number } };
  entries: EvidenceEntry[];
}

/** Receipts one evidence file holds at most (a release's fleet); the export refuses more. */
export const MAX_EVIDENCE_RECEIPTS = 100_000;

/** What `ota evidence verify` reads at most: the archive, and files in it. */
export const EVIDENCE_LIMITS = { maxBytes: 512 * 1024 * 1024, maxFiles: 2 * MAX_EVIDENCE_RECEIPTS + 10_000 };
