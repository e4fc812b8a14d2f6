import { createHash } from 'node:crypto';

import { expect } from 'chai';

import { parseDocument } from '../../../supplychain/documents';
import { compareVersions } from '../../../supplychain/versions';
import { SPDX_SBOM } from './spdxSbom';

const json = (o: unknown) => Buffer.from(JSON.stringify(o));
const refusal = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
  } catch (err) {
    return `${(err as { code?: string }).code}: ${(err as Error).message}`;
  }
  return 'accepted';
};

const CYCLONEDX = {
  bomFormat: 'CycloneDX',
  specVersion: '1.5',
  version: 1,
  components: [
    { type: 'library', name: 'openssl', version: '3.0.13', purl: 'pkg:deb/debian/openssl@3.0.13' },
    {
      type: 'application',
      name: 'busybox',
      version: '1.36.1',
      components: [{ type: 'library', name: 'musl', version: '1.2.4' }],
    },
  ],
};
const SHA = 'ab'.repeat(32);
const STATEMENT = {
  _type: 'https://in-toto.io/Statement/v1',
  subject: [{ name: 'fw.bin', digest: { sha256: SHA } }],
  predicateType: 'https://slsa.dev/provenance/v1',
  predicate: { buildDefinition: { buildType: 'https://example.com/build' }, runDetails: {} },
};

describe('release documents (SBOM and provenance) as the API checks them', () => {
  it('reads a CycloneDX SBOM, nested components included, and keeps the digest of its exact bytes', async () => {
    const bytes = json(CYCLONEDX);
    const d = await parseDocument('sbom', bytes);
    expect(d).to.include({
      format: 'cyclonedx',
      length: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    });
    expect(d.components).to.deep.equal([
      { name: 'openssl', version: '3.0.13', purl: 'pkg:deb/debian/openssl@3.0.13' },
      { name: 'busybox', version: '1.36.1' },
      { name: 'musl', version: '1.2.4' },
    ]);
  });

  it('refuses a CycloneDX document its schema refuses, or of a version it does not read', async () => {
    expect(await refusal(parseDocument('sbom', json({ ...CYCLONEDX, components: [{ name: 'x' }] })))).to.match(
      /^INVALID_INPUT: .*CycloneDX 1\.5.*type/,
    );
    expect(await refusal(parseDocument('sbom', json({ ...CYCLONEDX, specVersion: '1.1' })))).to.match(
      /specVersion 1\.1/,
    );
  });

  it('reads an SPDX 2.3 SBOM with purls, and refuses one missing what SPDX requires', async () => {
    const d = await parseDocument('sbom', json(SPDX_SBOM));
    expect(d.format).to.equal('spdx');
    expect(d.components).to.deep.equal([{ name: 'openssl', version: '1.1.1w', purl: 'pkg:deb/debian/openssl@1.1.1w' }]);
    const { documentNamespace: _n, ...noNamespace } = SPDX_SBOM;
    expect(await refusal(parseDocument('sbom', json(noNamespace)))).to.match(
      /^INVALID_INPUT: .*SPDX.*documentNamespace/,
    );
  });

  it('refuses what is no SBOM: not JSON, not an object, neither format, text the store cannot hold', async () => {
    expect(await refusal(parseDocument('sbom', Buffer.from('{"bomFormat":')))).to.match(/^INVALID_INPUT: .*not JSON/);
    expect(await refusal(parseDocument('sbom', json([1, 2])))).to.match(/not a JSON object/);
    expect(await refusal(parseDocument('sbom', json({ name: 'x' })))).to.match(/neither bomFormat/);
    const nul = { ...CYCLONEDX, components: [{ type: 'library', name: 'a\u0000b', version: '1' }] };
    expect(await refusal(parseDocument('sbom', json(nul)))).to.match(/NUL/);
  });

  it('reads an in-toto statement (plain or in a DSSE envelope) and the sha256 of its subjects', async () => {
    expect((await parseDocument('provenance', json(STATEMENT))).subjects).to.deep.equal([SHA]);
    const envelope = {
      payloadType: 'application/vnd.in-toto+json',
      payload: Buffer.from(JSON.stringify(STATEMENT)).toString('base64'),
      signatures: [],
    };
    const d = await parseDocument('provenance', json(envelope));
    expect(d).to.include({ format: 'in-toto' });
    expect(d.subjects).to.deep.equal([SHA]);
  });

  it('refuses provenance that is no statement, has no subject, or no usable sha256', async () => {
    expect(await refusal(parseDocument('provenance', json({ ...STATEMENT, _type: 'x' })))).to.match(
      /^INVALID_INPUT: .*_type/,
    );
    expect(await refusal(parseDocument('provenance', json({ ...STATEMENT, subject: [] })))).to.match(/subject/);
    const noSha = { ...STATEMENT, subject: [{ digest: { sha512: 'cd' } }] };
    expect(await refusal(parseDocument('provenance', json(noSha)))).to.match(/no subject has a sha256/);
    const badSha = { ...STATEMENT, subject: [{ digest: { sha256: 'XYZ' } }] };
    expect(await refusal(parseDocument('provenance', json(badSha)))).to.match(/64 hex/);
  });
});

describe('component versions', () => {
  it('orders numbers as numbers and letters as text, so "below 3.0.14" finds 3.0.9 and 1.1.1w', () => {
    expect(compareVersions('3.0.9', '3.0.14')).to.equal(-1);
    expect(compareVersions('3.0.14', '3.0.14')).to.equal(0);
    expect(compareVersions('3.1.0', '3.0.14')).to.equal(1);
    expect(compareVersions('1.1.1v', '1.1.1w')).to.equal(-1);
    expect(compareVersions('1.1.1w', '3.0.14')).to.equal(-1);
    expect(compareVersions('3.0', '3.0.1')).to.equal(-1);
    expect(compareVersions('2.36-9+deb12u4', '2.36-10')).to.equal(-1);
  });
});
