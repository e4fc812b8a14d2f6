/**
 * The documents that may come with a release: its SBOM (CycloneDX or SPDX JSON) and its build
 * provenance (an in-toto statement, SLSA or other). Each is stored content-addressed and its
 * digest is signed into the release's target (`custom.documents`) in both repositories, so a
 * device or an auditor given the document checks it against what the release keys signed.
 */
export const DOCUMENT_KINDS = ['sbom', 'provenance'] as const;
export type DocumentKind = (typeof DOCUMENT_KINDS)[number];
export type DocumentFormat = 'cyclonedx' | 'spdx' | 'in-toto';

export interface DocumentRef {
  sha256: string;
  length: number;
  format: DocumentFormat;
}

/** What a release's target carries: the documents it came with. */
export type ReleaseDocuments = Partial<Record<DocumentKind, DocumentRef>>;

/** The largest document taken: SBOMs of whole images run to a few MiB. */
export const MAX_DOCUMENT_BYTES = 16 * 1024 * 1024;

/** Where a document is kept in the artifacts bucket: by its sha256, like artifacts. */
export function documentKey(sha256: string): string {
  return `documents/sha256/${sha256}`;
}
