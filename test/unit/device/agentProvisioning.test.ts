import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { expect } from 'chai';

import { ConfigError, configInCode } from '../../../device/agent/config';
import { loadProvisioning } from '../../../device/agent/provisioning';
import { tempDirs } from '../tempDirs';

describe('agent provisioning: the transparency log it pins', () => {
  const temp = tempDirs('agent-provisioning-');

  /** A device's factory files in `dir`, and its configuration with these log settings. */
  async function device(dir: string, log: { keyFile?: string; witnessesFile?: string; quorum?: number }) {
    for (const f of ['fleet-ca.pem', 'release-root.json', 'rollout-root.json']) await writeFile(join(dir, f), '{}');
    await writeFile(join(dir, 'token'), 'one-time-token\n');
    const config = configInCode({
      apiUrl: 'https://ota.example.com',
      deviceId: 'dev-1',
      hardwareId: 'hw',
      channel: 'stable',
      stateDir: join(dir, 'state'),
      installer: { backend: 'reference' },
    });
    return {
      ...config,
      identity: {
        fleetCaFile: join(dir, 'fleet-ca.pem'),
        enrollmentTokenFile: join(dir, 'token'),
        releaseRootFile: join(dir, 'release-root.json'),
        rolloutRootFile: join(dir, 'rollout-root.json'),
      },
      transparencyLog: { quorum: 0, ...log },
    };
  }

  it('reads the log key and the witnesses, with the quorum configured', async () => {
    const dir = await temp();
    await writeFile(join(dir, 'log.vkey'), 'log.example/log+01020304+AAAA\n');
    await writeFile(join(dir, 'witnesses'), 'w1+0a0b0c0d+BBBB\n\n w2+01010101+CCCC \n');
    const p = await loadProvisioning(
      await device(dir, { keyFile: join(dir, 'log.vkey'), witnessesFile: join(dir, 'witnesses'), quorum: 2 }),
    );
    expect(p.transparencyLog).to.deep.equal({
      key: 'log.example/log+01020304+AAAA',
      witnesses: ['w1+0a0b0c0d+BBBB', 'w2+01010101+CCCC'],
      quorum: 2,
    });
    expect((await loadProvisioning(await device(dir, {}))).transparencyLog).to.equal(undefined);
  });

  it('refuses witnesses without a log key or without a quorum, and a key file it cannot read', async () => {
    const dir = await temp();
    await writeFile(join(dir, 'witnesses'), 'w1+0a0b0c0d+BBBB\n');
    for (const log of [
      { witnessesFile: join(dir, 'witnesses'), quorum: 1 },
      { keyFile: join(dir, 'witnesses'), witnessesFile: join(dir, 'witnesses'), quorum: 0 },
      { keyFile: join(dir, 'missing.vkey') },
    ]) {
      const err = await loadProvisioning(await device(dir, log)).catch((e: unknown) => e);
      expect(err, JSON.stringify(log)).to.be.instanceOf(ConfigError);
    }
  });
});
