import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { expect } from 'chai';

import { waitForStatus } from '../../../control/releases';
import { bundleInfo, createBundle } from '../../../infra/raucBundle';
import { bundleSigningFiles, ensureBundleSigning } from '../../../trust/bundleSigning';
import { approve, artifactFile, device, ota, releaseAwaitingApproval, temporalClient, testConfig } from '../helpers';

const run = promisify(execFile);

/** `ota bundle create` of a fresh 3 MiB image for the reference VM's compatible string. */
async function bundleCreate(version: string, ...extra: string[]) {
  const image = await artifactFile('rootfs.ext4', 3 * 1024 * 1024);
  const out = join(testConfig().home, 'builds', `fw-${version}.raucb`);
  const made = await ota(
    'bundle',
    'create',
    '--image',
    image,
    '--version',
    version,
    '--compatible',
    'enigm-ota-vm',
    '--out',
    out,
    ...extra,
  );
  return { out, made };
}

describe('RAUC bundles signed with the ceremony keyring', () => {
  let elsewhere: string;
  before(async () => {
    elsewhere = await mkdtemp(join(tmpdir(), 'ota-other-ca-'));
  });
  after(() => rm(elsewhere, { recursive: true, force: true }));

  const ceremony = () => bundleSigningFiles(testConfig().ceremonyDir);

  it('ota bundle create wraps an image into a verity bundle that rauc info accepts with the keyring', async () => {
    const { out, made } = await bundleCreate('3.1.0', '--json');
    expect(made.code, made.stderr).to.equal(0);
    expect(made.json).to.deep.include({
      out,
      compatible: 'enigm-ota-vm',
      version: '3.1.0',
      keyring: ceremony().keyring,
    });
    // RAUC itself, as a device runs it: the signature against the provisioned keyring.
    const { stdout } = await run('rauc', ['info', `--keyring=${ceremony().keyring}`, '--output-format=json', out]);
    const info = JSON.parse(stdout) as { compatible: string; version: string; images: Array<Record<string, unknown>> };
    expect(info).to.deep.include({ compatible: 'enigm-ota-vm', version: '3.1.0' });
    expect(info.images.map((i) => Object.keys(i))).to.deep.equal([['rootfs']]);
    const format = await run('rauc', ['info', `--keyring=${ceremony().keyring}`, out]);
    expect(format.stdout).to.match(/Bundle Format:\s+verity/);
  });

  it('a bundle signed by another CA is refused by rauc against the ceremony keyring, and the other way round', async () => {
    const other = (await ensureBundleSigning(elsewhere)).files;
    const image = await artifactFile('rootfs.ext4', 3 * 1024 * 1024);
    const foreign = join(elsewhere, 'foreign.raucb');
    await createBundle({ image, version: '3.2.0', compatible: 'enigm-ota-vm', out: foreign, signing: other });
    expect(await bundleInfo(foreign, { keyring: other.keyring })).to.deep.equal({
      compatible: 'enigm-ota-vm',
      version: '3.2.0',
    });
    const refused = await run('rauc', ['info', `--keyring=${ceremony().keyring}`, foreign]).catch((e: unknown) => e);
    expect(refused).to.have.property('code', 1);
    expect(refused)
      .to.have.property('stderr')
      .that.matches(/signature verification failed/);
    expect(await bundleInfo(foreign, { keyring: ceremony().keyring }).catch((e: unknown) => e)).to.have.property(
      'code',
      'BUNDLE_BUILD_FAILED',
    );
    const ours = join(elsewhere, 'ours.raucb');
    await createBundle({ image, version: '3.2.0', compatible: 'enigm-ota-vm', out: ours, signing: ceremony() });
    expect(await bundleInfo(ours, { keyring: other.keyring }).catch((e: unknown) => e)).to.have.property(
      'code',
      'BUNDLE_BUILD_FAILED',
    );
  });

  it('is released as an ordinary artifact: the bytes a device verified and installed still pass rauc info', async () => {
    const channel = 'rauc-bundles';
    const { out, made } = await bundleCreate('4.0.0');
    expect(made.code, made.stderr).to.equal(0);
    await releaseAwaitingApproval(channel, '4.0.0', { bytes: await readFile(out) });
    await approve(channel, '4.0.0');
    await waitForStatus(await temporalClient(), { channel, version: '4.0.0' }, (s) => s.stage === 'stable');
    const stateDir = join(testConfig().home, 'test-devices', 'rauc-bundle-1');
    expect(await (await device('rauc-bundle-1', channel)).checkForUpdate()).to.include({
      status: 'installed',
      version: '4.0.0',
    });
    // The reference installer's slot holds the artifact as verified: RAUC's own check of it.
    const slot = join(stateDir, 'system', 'slots', 'b', 'image');
    expect(await bundleInfo(slot, { keyring: ceremony().keyring })).to.deep.equal({
      compatible: 'enigm-ota-vm',
      version: '4.0.0',
    });
  });
});
