import { createHash } from 'node:crypto';

import { VerificationError } from './errors';

/** What a release may come with: its SBOM and its build provenance. */
export type ReleaseDocumentKind = 'sbom' | 'provenance';

/** A document's reference as the release keys signed it into the target's custom fields. */
export interface SignedDocument {
  sha256: string;
  length: number;
  format: string;
}

/**
 * Checks a document someone handed over (an SBOM from a download page, provenance from a
 * registry) against the target it claims to belong to: the target's `custom` fields as the
 * verified metadata holds them (a device's, or an auditor's TUF client's). Fails closed:
 * DOCUMENT_NOT_SIGNED when the target names no such document, DOCUMENT_MISMATCH when the bytes
 * are not the ones signed. Returns the signed reference.
 */
export function checkReleaseDocument(
  targetCustom: unknown,
  kind: ReleaseDocumentKind,
  bytes: Uint8Array,
): SignedDocument {
  const signed = signedDocument(targetCustom, kind);
  if (!signed) throw new VerificationError('DOCUMENT_NOT_SIGNED', `the release's signed target names no ${kind}`);
  if (bytes.length !== signed.length)
    throw new VerificationError(
      'DOCUMENT_MISMATCH',
      `the ${kind} has ${bytes.length} bytes, ${signed.length} were signed`,
    );
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== signed.sha256)
    throw new VerificationError('DOCUMENT_MISMATCH', `the ${kind}'s sha256 ${sha256} is not the one signed`);
  return signed;
}

function signedDocument(custom: unknown, kind: ReleaseDocumentKind): SignedDocument | undefined {
  const documents = (custom as { documents?: unknown } | null)?.documents;
  const ref = (documents as Record<string, unknown> | null | undefined)?.[kind] as Partial<SignedDocument> | undefined;
  if (typeof ref?.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(ref.sha256)) return undefined;
  if (typeof ref.length !== 'number' || !Number.isSafeInteger(ref.length) || ref.length < 0) return undefined;
  return { sha256: ref.sha256, length: ref.length, format: typeof ref.format === 'string' ? ref.format : 'unknown' };
}
