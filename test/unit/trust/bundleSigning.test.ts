import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { expect } from 'chai';

import { bundleSigningFiles, ensureBundleSigning } from '../../../trust/bundleSigning';

describe('ensureBundleSigning', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-bundle-ca-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('makes a CA (the keyring) and a code-signing certificate it issued, keys readable by the owner only', async () => {
    const { files, created } = await ensureBundleSigning(dir);
    expect(created).to.equal(true);
    const ca = new X509Certificate(await readFile(files.keyring));
    const signer = new X509Certificate(await readFile(files.cert));
    expect(ca.ca).to.equal(true);
    expect(ca.checkIssued(ca)).to.equal(true);
    expect(signer.ca).to.equal(false);
    expect(signer.checkIssued(ca)).to.equal(true);
    expect(signer.verify(ca.publicKey)).to.equal(true);
    // codeSigning for RAUC's check-purpose=codesign, emailProtection for OpenSSL's default S/MIME purpose.
    expect(signer.keyUsage).to.have.members(['1.3.6.1.5.5.7.3.3', '1.3.6.1.5.5.7.3.4']);
    for (const key of [files.caKey, files.key]) expect((await stat(key)).mode & 0o777).to.equal(0o600);
    expect(files.caKey).to.equal(join(dir, 'offline', 'bundle-ca-key.pem'));
  });

  it('keeps an existing keyring: devices were provisioned with it', async () => {
    const first = await ensureBundleSigning(dir);
    const keyring = await readFile(first.files.keyring, 'utf8');
    const again = await ensureBundleSigning(dir);
    expect(again.created).to.equal(false);
    expect(await readFile(again.files.keyring, 'utf8')).to.equal(keyring);
  });

  it('refuses to start over on top of a set an interrupted ceremony left without its keyring', async () => {
    const files = bundleSigningFiles(dir);
    await ensureBundleSigning(dir);
    await rm(files.keyring);
    const err = await ensureBundleSigning(dir).catch((e: unknown) => e);
    expect(err).to.have.property('code', 'CONFIG_INVALID');
  });
});
