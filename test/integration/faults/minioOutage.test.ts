import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { expect } from 'chai';

import { waitForStatus } from '../../../control/releases';
import { ProcessManager } from '../../../scripts/lib/processes';
import { stackUp, TEST_PROFILE } from '../../../scripts/lib/stack';
import { simulateFleet } from '../../../simulator/fleet';
import { sleep, waitFor } from '../../wait';
import { approve, releaseAwaitingApproval, stepPublished, temporalClient, testConfig } from '../helpers';
import { TEST_EXTRA_ENV } from '../setup';
import { chainMark, metadataChainProblems, slotProblems } from './invariants';

const OUTAGE_MS = 30_000;

/** Any partly downloaded artifact under `dir` (the SDK keeps `<sha256>.partial` until verified). */
async function partialDownload(dir: string): Promise<boolean> {
  const files = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  for (const f of files.filter((x) => x.endsWith('.partial'))) {
    if ((await stat(join(dir, f)).catch(() => undefined))?.size) return true;
  }
  return false;
}

/**
 * Fault injection: MinIO (artifacts and metadata) stopped for 30 s, once while the
 * worker publishes a rollout step and once while devices download. The publish waits and
 * retries; devices back off, resume their partial downloads and converge on a complete slot.
 */
describe('faults: MinIO stopped for 30 s', function () {
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
    await sleep(OUTAGE_MS);
    await stackUp(TEST_PROFILE, { extraEnv: TEST_EXTRA_ENV });
    const s = await waitForStatus(
      client,
      { channel: 'minio-publish', version: '1.0.0', timeoutMs: 120_000 },
      (x) => x.stage === 'stable' || x.stage === 'failed',
    );
    expect(s.stage, JSON.stringify(s.error)).to.equal('stable');
    expect(s.published).to.include({ percent: 100 });
    expect(await metadataChainProblems(since)).to.deep.equal([]);
  });

  it('during downloads: every device resumes and converges on a complete slot', async () => {
    const config = testConfig();
    const client = await temporalClient();
    await releaseAwaitingApproval('minio-download', '1.0.0', { steps: '100', bake: '1h', bytes: 48 << 20 });
    await approve('minio-download', '1.0.0');
    const { target } = await waitForStatus(client, { channel: 'minio-download', version: '1.0.0' }, stepPublished(100));
    const devices = 6;
    const idPrefix = 'minio-dl-';
    const devicesDir = join(config.home, 'devices');

    let outage: Promise<void> | undefined;
    const cut = waitFor('a download under way', () => partialDownload(devicesDir), {
      timeoutMs: 120_000,
      intervalMs: 10,
    }).then(async () => {
      expect(await pm.stop('minio', { kill: true })).to.equal(true);
      outage = sleep(OUTAGE_MS).then(async () => void (await stackUp(TEST_PROFILE, { extraEnv: TEST_EXTRA_ENV })));
    });
    const tally = await simulateFleet(config, {
      devices,
      hardwareId: 'devkit-a',
      channel: 'minio-download',
      fromVersion: '0.0.1',
      untilVersion: '1.0.0',
      idPrefix,
      timeoutMs: 180_000,
      intervalMs: 500,
    });
    await cut;
    await outage;
    expect(tally.versions).to.deep.equal({ '1.0.0': devices });
    expect(Object.keys(tally.errors).length, 'devices met the outage').to.be.greaterThan(0);
    const problems = [];
    for (let i = 1; i <= devices; i++)
      problems.push(
        ...(await slotProblems(join(devicesDir, `${idPrefix}${String(i).padStart(4, '0')}`), '1.0.0', target!)),
      );
    expect(problems).to.deep.equal([]);
  });
});
