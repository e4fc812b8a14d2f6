import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

import type { DeviceAgent } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import { waitForStatus } from '../../../control/releases';
import { Storage } from '../../../infra/storage';
import { offlineDir } from '../../../trust/ceremony';
import {
  approve,
  device,
  type ErrorAnswer,
  ota,
  releaseAwaitingApproval,
  temporalClient,
  testConfig,
} from '../helpers';

type Listed = {
  repository: string;
  rootVersion: number;
  roles: Array<{ role: string; threshold: number; keys: Array<{ keyID: string; location: string }> }>;
};

describe('key management (ota keys)', () => {
  const channel = 'keys';
  let early: DeviceAgent;

  const listed = async (repo: string): Promise<Listed> => {
    const r = await ota('keys', 'list', repo, '--json');
    expect(r.code, `${r.stdout}${r.stderr}`).to.equal(0);
    return (r.json as Listed[])[0]!;
  };
  const role = (l: Listed, name: string) => l.roles.find((r) => r.role === name)!;
  const firstRoot = async (repo: string) =>
    (await new Storage(testConfig().minio).getBytes('metadata', `${repo}/1.root.json`, 1 << 20))!;

  before(async () => {
    // Provisioned with the first roots, before any key change: it must follow every rotation.
    early = await device(
      'keys-early',
      channel,
      {},
      { release: await firstRoot('release'), rollout: await firstRoot('rollout') },
    );
  });

  it('the ceremony made 2-of-3 offline root keys and 2-of-3 release keys in the HSM', async () => {
    const release = await listed('release');
    expect(role(release, 'root')).to.include({ threshold: 2 });
    expect(role(release, 'root').keys.map((k) => k.location)).to.deep.equal([
      'offline file',
      'offline file',
      'offline file',
    ]);
    expect(role(release, 'targets')).to.include({ threshold: 2 });
    expect(role(release, 'targets').keys.map((k) => k.location)).to.deep.equal(['hsm', 'hsm', 'hsm']);
    expect(role(await listed('rollout'), 'targets').keys).to.have.length(1);
  });

  it('refuses bad key changes with a clear error and leaves the root as it was', async () => {
    const before = await listed('release');
    const keyFiles = (await readdir(offlineDir(testConfig()))).sort();
    const oneRootKey = join(
      offlineDir(testConfig()),
      keyFiles.find((f) => f.startsWith('release-root-'))!,
    );
    const refusals: Array<[string[], number, string]> = [
      [['threshold', 'release', 'targets', '4'], 2, 'INVALID_INPUT'],
      [['threshold', 'release', 'targets', '0'], 2, 'INVALID_INPUT'],
      [['threshold', 'release', 'targets', '2'], 2, 'INVALID_INPUT'],
      [['add', 'release', 'admin'], 2, 'INVALID_INPUT'],
      [['add', 'staging', 'targets'], 2, 'INVALID_INPUT'],
      [['revoke', 'release', 'targets', 'ffffffff'], 2, 'INVALID_INPUT'],
      [['revoke', 'release', 'targets', 'not-hex'], 2, 'INVALID_INPUT'],
      // 2 of 3 root keys must sign; one offline key alone cannot change the root.
      [['rotate', 'release', 'targets', '--root-key', oneRootKey], 1, 'SIGNING_KEYS_MISSING'],
    ];
    for (const [args, exit, code] of refusals) {
      const r = await ota('keys', ...args, '--json');
      expect(r.code, args.join(' ')).to.equal(exit);
      expect((r.json as ErrorAnswer).error.code, args.join(' ')).to.equal(code);
    }
    const after = await listed('release');
    expect(after).to.deep.equal(before);
    expect((await readdir(offlineDir(testConfig()))).sort()).to.deep.equal(keyFiles);
  });

  it('refuses a revocation that would leave fewer keys than the threshold', async () => {
    expect(await ota('keys', 'threshold', 'release', 'targets', '3', '--json')).to.have.property('code', 0);
    const keys = role(await listed('release'), 'targets').keys;
    const refused = await ota('keys', 'revoke', 'release', 'targets', keys[0]!.keyID, '--json');
    expect(refused.code).to.equal(2);
    expect((refused.json as ErrorAnswer).error.message).to.match(/below the threshold 3/);
    expect(role(await listed('release'), 'targets').keys).to.deep.equal(keys);
    expect(await ota('keys', 'threshold', 'release', 'targets', '2', '--json')).to.have.property('code', 0);
  });

  it('devices provisioned before follow several rotations in a row and install the next release', async () => {
    const before = { release: await listed('release'), rollout: await listed('rollout') };
    const oldTargets = role(before.release, 'targets').keys[0]!.keyID;
    const changes = [
      ['rotate', 'release', 'root'],
      ['add', 'release', 'targets'],
      ['revoke', 'release', 'targets', oldTargets],
      ['rotate', 'release', 'snapshot'],
      ['rotate', 'rollout', 'targets'],
      ['rotate', 'rollout', 'timestamp'],
      ['rotate', 'rollout', 'root'],
    ];
    for (const change of changes) {
      const r = await ota('keys', ...change, '--json');
      expect(r.code, `${change.join(' ')}: ${r.stdout}${r.stderr}`).to.equal(0);
    }
    const after = { release: await listed('release'), rollout: await listed('rollout') };
    expect(after.release.rootVersion).to.equal(before.release.rootVersion + 4);
    expect(after.rollout.rootVersion).to.equal(before.rollout.rootVersion + 3);
    const rootKeys = (l: Listed) => role(l, 'root').keys.map((k) => k.keyID);
    expect(rootKeys(after.release)).to.not.include.members(rootKeys(before.release));
    expect(role(after.release, 'targets').keys.map((k) => k.keyID)).to.not.include(oldTargets);

    await releaseAwaitingApproval(channel, '1.0.0');
    await approve(channel, '1.0.0');
    await waitForStatus(await temporalClient(), { channel, version: '1.0.0' }, (s) => s.stage === 'stable');
    expect(await early.checkForUpdate()).to.include({ status: 'installed', version: '1.0.0' });
    const fresh = await device('keys-fresh', channel);
    expect(await fresh.checkForUpdate()).to.include({ status: 'installed', version: '1.0.0' });
  });
});
