import { randomBytes } from 'node:crypto';

import type { UpdateResult } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import type { ReleaseStatus } from '../../../common/release';
import { waitForStatus } from '../../../control/releases';
import {
  adminApi,
  approve,
  device,
  deviceFetch,
  releaseAwaitingApproval,
  temporalClient,
  testConfig,
} from '../helpers';

// Versions no other test uses: `ota release status VERSION` resolves a version alone only while one channel has it.
const CHANNEL = 'protected-base';
/** Consecutive builds of one program: a delta between any two of them saves most of the image. */
const OPEN = Buffer.from(
  Array.from({ length: 12_000 }, (_, i) => `fn_${i}: ${randomBytes(6).toString('hex')}\n`).join(''),
);
const next = (from: Buffer) => {
  const b = Buffer.from(from);
  for (let at = 5000; at < b.length; at += 40_000) randomBytes(32).copy(b, at);
  return Buffer.concat([b, randomBytes(1000)]);
};
const PROTECTED = next(OPEN);
const LATER = next(PROTECTED);

const delivery = (r: UpdateResult) => (r.status === 'installed' ? r.delivery : undefined);

async function stableRelease(version: string, bytes: Buffer, extra: { rollbackIndex: number; flags?: string[] }) {
  const awaiting = await releaseAwaitingApproval(CHANNEL, version, { bytes, ...extra });
  await approve(CHANNEL, version);
  await waitForStatus(await temporalClient(), { channel: CHANNEL, version }, (s) => s.stage === 'stable');
  return awaiting;
}

async function label(deviceId: string, groups: string[]): Promise<void> {
  const api = await adminApi();
  try {
    await api.send('POST', `/v1/admin/devices/${deviceId}/labels`, { groups, tags: {} });
  } finally {
    await api.close();
  }
}

/**
 * A delta from a protected release B to a later open release T would be handed to every
 * device that may have T, and bsdiff's diff bytes are new minus old: T and the delta give
 * B back. B's audience only may see B (S-26, S-28).
 */
describe('security: a protected release as a delta base', function () {
  this.timeout(600_000);
  let protectedRelease: ReleaseStatus;
  let later: ReleaseStatus;

  it('a device outside the protected release’s audience gets no delta that rebuilds from it, and still updates by delta from an open release', async () => {
    await deviceFetch('pdb-office', CHANNEL);
    await deviceFetch('pdb-canary', CHANNEL);
    await label('pdb-office', ['office']);
    await label('pdb-canary', ['canary']);
    const office = await device('pdb-office', CHANNEL);
    const canary = await device('pdb-canary', CHANNEL);
    await stableRelease('71.0.0', OPEN, { rollbackIndex: 1 });
    expect(await office.checkForUpdate()).to.include({ status: 'installed', version: '71.0.0' });
    expect(await canary.checkForUpdate()).to.include({ status: 'installed', version: '71.0.0' });
    protectedRelease = await stableRelease('72.0.0', PROTECTED, {
      rollbackIndex: 2,
      flags: ['--protected', '--target-group', 'canary'],
    });
    expect(await canary.checkForUpdate()).to.include({ status: 'installed', version: '72.0.0' });
    expect(await office.checkForUpdate(), 'not in the audience').to.include({ status: 'up-to-date' });

    later = await stableRelease('73.0.0', LATER, { rollbackIndex: 3 });
    const deltas = later.target?.deltas ?? [];
    const protectedSha = protectedRelease.target!.sha256;
    const asOffice = await deviceFetch('pdb-office', CHANNEL);
    const served: string[] = [];
    // What an attacker in the office group would do: ask for every delta the new release lists.
    for (const d of deltas) {
      const res = await asOffice(`${testConfig().api.url}/v1/artifacts/${d.sha256}`, { redirect: 'manual' });
      await res.body?.cancel();
      if (res.status === 302) served.push(d.base.sha256);
    }
    expect(served, 'a delta is served to the office device').to.have.length.greaterThan(0);
    expect(served, 'no served delta rebuilds from the protected release').to.not.include(protectedSha);
    expect(deltas.map((d) => d.base.version)).to.deep.equal(['71.0.0']);

    const officeResult = await office.checkForUpdate();
    expect(officeResult).to.include({ status: 'installed', version: '73.0.0' });
    expect(delivery(officeResult)).to.deep.equal({ as: 'delta', bytes: deltas[0]!.length });
    const canaryResult = await canary.checkForUpdate();
    expect(canaryResult).to.include({ status: 'installed', version: '73.0.0' });
    expect(delivery(canaryResult), 'the protected release’s devices take the full image').to.deep.equal({
      as: 'full',
      bytes: LATER.length,
    });
  });
});
