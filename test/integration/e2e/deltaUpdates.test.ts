import { randomBytes } from 'node:crypto';

import type { UpdateResult } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import type { DeliverySummary } from '../../../common/adminApi';
import type { ReleaseStatus } from '../../../common/release';
import { waitForStatus } from '../../../control/releases';
import { apiGet, approve, device, releaseAwaitingApproval, temporalClient } from '../helpers';

// Versions no other test uses: `ota release status VERSION` resolves a version alone only while one channel has it.
const CHANNEL = 'deltas';
/** Consecutive builds: the same program with a few changes here and there, and a little more code. */
const V1 = Buffer.from(
  Array.from({ length: 12_000 }, (_, i) => `fn_${i}: ${randomBytes(6).toString('hex')}\n`).join(''),
);
const next = (from: Buffer) => {
  const b = Buffer.from(from);
  for (let at = 5000; at < b.length; at += 40_000) randomBytes(32).copy(b, at);
  return Buffer.concat([b, randomBytes(1000)]);
};
const V2 = next(V1);
const V3 = next(V2);

const delivery = (r: UpdateResult) => (r.status === 'installed' ? r.delivery : undefined);

async function stableRelease(version: string, bytes: Buffer, rollbackIndex: number): Promise<ReleaseStatus> {
  const awaiting = await releaseAwaitingApproval(CHANNEL, version, { rollbackIndex, bytes });
  await approve(CHANNEL, version);
  await waitForStatus(await temporalClient(), { channel: CHANNEL, version }, (s) => s.stage === 'stable');
  return awaiting;
}

describe('delta updates through the release path (D-17)', () => {
  it('the worker builds deltas from the two previous releases; devices take the one for the image they run, and the release shows the saving', async () => {
    const onV1 = await device('delta-v1', CHANNEL);
    const onV2 = await device('delta-v2', CHANNEL);
    await stableRelease('41.0.0', V1, 1);
    expect(delivery(await onV1.checkForUpdate()), 'no earlier release: the full image').to.deep.equal({
      as: 'full',
      bytes: V1.length,
    });
    expect(delivery(await onV2.checkForUpdate())).to.deep.equal({ as: 'full', bytes: V1.length });

    const second = await stableRelease('42.0.0', V2, 2);
    expect(second.target?.deltas?.map((d) => d.base.version)).to.deep.equal(['41.0.0']);
    expect(delivery(await onV2.checkForUpdate())).to.deep.equal({
      as: 'delta',
      bytes: second.target!.deltas![0]!.length,
    });

    const third = await stableRelease('43.0.0', V3, 3);
    const deltas = third.target?.deltas ?? [];
    expect(
      deltas.map((d) => d.base.version),
      'the plan default: the two newest earlier releases',
    ).to.deep.equal(['42.0.0', '41.0.0']);
    for (const d of deltas) expect(d.length, `delta from ${d.base.version}`).to.be.lessThan(V3.length / 4);
    const fromV1 = deltas.find((d) => d.base.version === '41.0.0')!;
    const fromV2 = deltas.find((d) => d.base.version === '42.0.0')!;
    // Two releases behind: the delta from the image it runs.
    const v1Result = await onV1.checkForUpdate();
    expect(v1Result).to.include({ status: 'installed', version: '43.0.0' });
    expect(delivery(v1Result)).to.deep.equal({ as: 'delta', bytes: fromV1.length });
    expect(delivery(await onV2.checkForUpdate())).to.deep.equal({ as: 'delta', bytes: fromV2.length });
    // A factory-fresh device runs no image a delta applies to.
    const fresh = await device('delta-fresh', CHANNEL);
    expect(delivery(await fresh.checkForUpdate())).to.deep.equal({ as: 'full', bytes: V3.length });

    const status = await apiGet<ReleaseStatus & { delivery: DeliverySummary }>(`/v1/admin/releases/${CHANNEL}/43.0.0`);
    expect(status.delivery).to.deep.include({
      delta: { installs: 2, bytes: fromV1.length + fromV2.length },
      full: { installs: 1, bytes: V3.length },
      deltaRefused: 0,
    });
    expect(status.delivery.savedBytes).to.equal(3 * V3.length - fromV1.length - fromV2.length - V3.length);
  });

  it('signs no delta between unrelated images (it would save nothing)', async () => {
    await stableRelease('44.0.0', randomBytes(V3.length), 4);
    const status = await waitForStatus(
      await temporalClient(),
      { channel: CHANNEL, version: '44.0.0' },
      (s) => s.stage === 'stable',
    );
    expect(status.target?.deltas ?? []).to.deep.equal([]);
  });
});
