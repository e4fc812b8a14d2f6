import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { expect } from 'chai';

import { waitForStatus } from '../../../control/releases';
import { ProcessManager } from '../../../scripts/lib/processes';
import { stackUp, TEST_PROFILE } from '../../../scripts/lib/stack';
import { type FleetTally, simulateFleet } from '../../../simulator/fleet';
import { waitFor } from '../../wait';
import { approve, releaseAwaitingApproval, stepPublished, temporalClient, testConfig } from '../helpers';
import { failedAttempts } from '../releaseHistory';
import { TEST_EXTRA_ENV } from '../setup';
import { chainMark, metadataChainProblems, rolloutProblems, slotProblems } from './invariants';
import { startStorageProxy, type StorageRequest } from './storageProxy';

const MIB = 1 << 20;

/** The size of each device's partly downloaded artifact (the SDK keeps `<sha256>.partial` until verified). */
async function partialSizes(deviceDirs: string[]): Promise<number[]> {
  const sizes: number[] = [];
  for (const dir of deviceDirs) {
    const files = await readdir(join(dir, 'downloads')).catch(() => [] as string[]);
    const partial = files.find((f) => f.endsWith('.partial'));
    sizes.push(partial ? ((await stat(join(dir, 'downloads', partial)).catch(() => undefined))?.size ?? 0) : 0);
  }
  return sizes;
}

/**
 * Fault injection: MinIO (artifacts and metadata) stopped, once while the worker publishes a
 * rollout step and once while devices download, each time until what depends on it has met
 * the outage. The publish waits and retries; devices back off, resume their partial
 * downloads where they broke off (HTTP Range) and converge on a complete slot.
 */
describe('faults: MinIO stopped', function () {
  this.timeout(300_000);
  const pm = new ProcessManager(TEST_PROFILE.home);

  afterEach(async function () {
    this.timeout(120_000);
    await stackUp(TEST_PROFILE, { extraEnv: TEST_EXTRA_ENV });
  });

  it('during a publish: the step is published once storage is back, and the chain has no gap or repeat', async () => {
    const client = await temporalClient();
    const since = await chainMark();
    await releaseAwaitingApproval('minio-publish', '1.0.0', { steps: '50,100', bake: '2s' });
    await approve('minio-publish', '1.0.0');
    await waitForStatus(client, { channel: 'minio-publish', version: '1.0.0' }, stepPublished(50));
    expect(await pm.stop('minio', { kill: true })).to.equal(true);
    // The next step is due while storage is down: pending, not published.
    const pending = await waitForStatus(
      client,
      { channel: 'minio-publish', version: '1.0.0', timeoutMs: 30_000 },
      (s) => s.percent === 100,
    );
    expect(pending.published).to.include({ percent: 50 });
    // Down until the publish has failed against it (Temporal's record of the activity's attempts).
    await waitFor(
      'a publish attempt failed on the stopped storage',
      async () => (await failedAttempts('minio-publish', '1.0.0', 'publishRollout')) >= 1,
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    await stackUp(TEST_PROFILE, { extraEnv: TEST_EXTRA_ENV });
    const s = await waitForStatus(
      client,
      { channel: 'minio-publish', version: '1.0.0', timeoutMs: 120_000 },
      (x) => x.stage === 'stable' || x.stage === 'failed',
    );
    expect(s.stage, JSON.stringify(s.error)).to.equal('stable');
    expect(await metadataChainProblems(since)).to.deep.equal([]);
    expect(await rolloutProblems([{ target: s.target!.name, steps: [50, 100] }], since)).to.deep.equal([]);
  });

  it('during downloads: every device resumes its partial download with a Range request and converges on a complete slot', async () => {
    const config = testConfig();
    // Devices fetch artifact bytes through a proxy that records their requests (the API's
    // presigned URLs name it): slow enough that every device is mid-download when MinIO stops.
    const proxy = await startStorageProxy({ host: config.minio.endPoint, port: config.minio.port });
    const env = { ...TEST_EXTRA_ENV, OTA_MINIO_PUBLIC_URL: proxy.url };
    try {
      await pm.stop('api');
      await stackUp(TEST_PROFILE, { extraEnv: env });
      const client = await temporalClient();
      const length = 32 * MIB;
      await releaseAwaitingApproval('minio-download', '1.0.0', { steps: '100', bake: '1h', bytes: length });
      await approve('minio-download', '1.0.0');
      const { target } = await waitForStatus(
        client,
        { channel: 'minio-download', version: '1.0.0' },
        stepPublished(100),
      );
      const devices = 6;
      const idPrefix = 'minio-dl-';
      const deviceDirs = Array.from({ length: devices }, (_, i) =>
        join(config.home, 'devices', `${idPrefix}${String(i + 1).padStart(4, '0')}`),
      );
      const artifact = (r: StorageRequest) => r.path.includes(target!.sha256);
      proxy.throttle = 2 * MIB;

      let live: FleetTally | undefined;
      const failedCycles = () => Object.values(live?.errors ?? {}).reduce((a, b) => a + b, 0);
      let cutAt = 0;
      // Cut early, while storage has most of every answer still to send (the proxy reads it
      // at the throttle's pace): no download can finish from what was already on its way.
      const outage = waitFor(
        'every device a MiB or more into its download',
        async () =>
          proxy.requests.filter(artifact).length === devices && (await partialSizes(deviceDirs)).every((n) => n >= MIB),
        { timeoutMs: 120_000, intervalMs: 50 },
      ).then(async () => {
        const failed = failedCycles();
        expect(await pm.stop('minio', { kill: true })).to.equal(true);
        cutAt = proxy.requests.length;
        // Down until the devices met it twice over: each broken download, then as many
        // attempts again on the stopped storage (the devices back off and retry).
        await waitFor('devices retried on the stopped storage', () => failedCycles() >= failed + 2 * devices, {
          timeoutMs: 120_000,
        });
        proxy.throttle = undefined;
        await stackUp(TEST_PROFILE, { extraEnv: env });
      });
      const tally = await simulateFleet(
        config,
        {
          devices,
          hardwareId: 'devkit-a',
          channel: 'minio-download',
          fromVersion: '0.0.1',
          untilVersion: '1.0.0',
          idPrefix,
          timeoutMs: 180_000,
          intervalMs: 500,
        },
        (t) => void (live = t),
      );
      await outage;
      expect(tally.versions).to.deep.equal({ '1.0.0': devices });
      const problems = [];
      for (const dir of deviceDirs) problems.push(...(await slotProblems(dir, '1.0.0', target!)));
      expect(problems).to.deep.equal([]);

      // Before the cut each device asked once for the whole artifact; after it, only for the
      // rest of what it held (Range from at least the MiB it had), and got it (206): no
      // download started over. Counted by the proxy, not taken from the devices.
      const before = proxy.requests.slice(0, cutAt).filter(artifact);
      const after = proxy.requests.slice(cutAt).filter(artifact);
      expect(before.map((r) => r.range ?? 'whole')).to.deep.equal(Array<string>(devices).fill('whole'));
      expect(after.length, 'requests after the outage').to.be.at.least(devices);
      for (const r of after)
        expect(Number(/^bytes=(\d+)-$/.exec(r.range ?? '')?.[1]), r.range ?? 'no Range header').to.be.at.least(MIB);
      expect(after.filter((r) => r.status === 206).length, 'resumed answers').to.equal(devices);
      expect(
        after.filter((r) => r.status === 200),
        'whole answers',
      ).to.deep.equal([]);
      const resent = after.reduce((sum, r) => sum + r.bytes, 0);
      expect(resent, 'bytes sent after the outage').to.be.at.most(devices * (length - MIB));
    } finally {
      await proxy.close();
      await pm.stop('api');
    }
  });
});
