import { createHash } from 'node:crypto';

import { checkReleaseDocument } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import { refusal } from '../../rejection';

const codeOf = (fn: () => unknown): string => refusal(fn).code;

describe('checkReleaseDocument (a document against its signed target)', () => {
  const sbom = Buffer.from('{"bomFormat":"CycloneDX","specVersion":"1.5","version":1}');
  const signed = {
    version: '1.0.0',
    documents: {
      sbom: { sha256: createHash('sha256').update(sbom).digest('hex'), length: sbom.length, format: 'cyclonedx' },
    },
  };

  it('accepts the bytes that were signed and returns the signed reference', () => {
    expect(checkReleaseDocument(signed, 'sbom', sbom)).to.deep.equal(signed.documents.sbom);
  });

  it('refuses other bytes of the same length, and another length, with DOCUMENT_MISMATCH', () => {
    const other = Buffer.from(sbom);
    other[other.length - 2] = 0x32;
    expect(codeOf(() => checkReleaseDocument(signed, 'sbom', other))).to.equal('DOCUMENT_MISMATCH');
    expect(codeOf(() => checkReleaseDocument(signed, 'sbom', Buffer.concat([sbom, Buffer.from(' ')])))).to.equal(
      'DOCUMENT_MISMATCH',
    );
  });

  it('refuses a kind the target does not sign, and malformed references, with DOCUMENT_NOT_SIGNED', () => {
    expect(codeOf(() => checkReleaseDocument(signed, 'provenance', sbom))).to.equal('DOCUMENT_NOT_SIGNED');
    for (const custom of [
      null,
      {},
      { documents: null },
      { documents: { sbom: { sha256: 'ab', length: 1 } } },
      { documents: { sbom: { sha256: 'a'.repeat(64), length: -1 } } },
      { documents: { sbom: { sha256: 'a'.repeat(64), length: '57' } } },
    ])
      expect(
        codeOf(() => checkReleaseDocument(custom, 'sbom', sbom)),
        JSON.stringify(custom),
      ).to.equal('DOCUMENT_NOT_SIGNED');
  });

  it('says unknown for a format it was not told', () => {
    const bare = { documents: { sbom: { ...signed.documents.sbom, format: undefined } } };
    expect(checkReleaseDocument(bare, 'sbom', sbom).format).to.equal('unknown');
  });
});
