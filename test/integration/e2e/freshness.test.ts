import { expect } from 'chai';

import type { MetadataStatus } from '../../../common/adminApi';
import { FRESHNESS_SCHEDULE_ID } from '../../../common/temporalNames';
import { readMetadataStatus } from '../../../control/metadataStatus';
import { loadTrustedRoot } from '../../../trust/ceremony';
import { HsmKeys } from '../../../trust/keyring';
import { MetadataFileSet } from '../../../trust/metadataFileSet';
import { createActivityDeps } from '../../../worker/deps';
import { waitFor } from '../../wait';
import { apiGet, device, ota, temporalClient, testConfig } from '../helpers';

describe('metadata freshness', () => {
  let deps: Awaited<ReturnType<typeof createActivityDeps>>;
  /** The rollout repository as a writer with a custom timestamp lifetime. */
  const rolloutWith = async (timestampHours: number) =>
    new MetadataFileSet({
      name: 'rollout',
      storage: deps.storage,
      root: await loadTrustedRoot(testConfig(), 'rollout'),
      expiry: { targetsDays: 90, snapshotDays: 30, timestampHours },
      keys: new HsmKeys(deps.hsm),
    });

  before(async () => {
    deps = await createActivityDeps(testConfig());
  });
  after(async () => {
    await deps.close();
  });

  it('has a running schedule, created by the worker, and healthy metadata', async () => {
    const client = await temporalClient();
    const status = await waitFor('a completed freshness run', async () => {
      const s = await readMetadataStatus(client, testConfig(), () => apiGet('/v1/admin/metadata/watermarks'));
      return s.schedule.lastRun?.status === 'COMPLETED' && s;
    });
    expect(status.schedule).to.include({ exists: true, paused: false });
    expect(status.schedule.lastRun?.status).to.equal('COMPLETED');
    expect(status.problems).to.deep.equal([]);
  });

  it('shows a timestamp close to expiry, and the schedule re-signs it', async () => {
    await (await rolloutWith(1)).refreshExpiring(1_000_000);
    const stale = await ota('metadata', 'status', '--json');
    expect(stale.code).to.equal(1);
    const ts = (stale.json as MetadataStatus).repositories.rollout.find((r) => r.role === 'timestamp')!;
    expect(ts.expiresSoon).to.equal(true);

    const client = await temporalClient();
    await client.schedule.getHandle(FRESHNESS_SCHEDULE_ID).trigger();
    const fresh = await waitFor('healthy metadata after the triggered run', async () => {
      const answer = await ota('metadata', 'status', '--json');
      return answer.code === 0 && answer;
    });
    expect(fresh.code, fresh.stdout).to.equal(0);
    const renewed = (fresh.json as MetadataStatus).repositories.rollout.find((r) => r.role === 'timestamp')!;
    expect(renewed.version).to.be.greaterThan(ts.version);
    expect(renewed.expiresSoon).to.equal(false);
  });

  it('shows a paused schedule as a problem', async () => {
    const handle = (await temporalClient()).schedule.getHandle(FRESHNESS_SCHEDULE_ID);
    await handle.pause('test pause');
    try {
      const r = await ota('metadata', 'status', '--json');
      expect(r.code).to.equal(1);
      expect((r.json as MetadataStatus).problems.join('\n')).to.contain('paused');
    } finally {
      await handle.unpause();
    }
  });

  it('leaves a device that sees only expired metadata installing nothing', async () => {
    await (await rolloutWith(-1)).refreshExpiring(1_000_000);
    try {
      const agent = await device('fresh-1', 'e2e');
      const result = await agent.installOffer({ targetName: 'e2e/2.0.0/e2e-firmware.bin', version: '2.0.0' });
      expect(result).to.include({ status: 'refused', code: 'METADATA_EXPIRED' });
      expect((await agent.state()).currentVersion).to.equal('0.0.0');
    } finally {
      await deps.repos.rollout.refreshExpiring(1_000_000);
    }
  });
});
