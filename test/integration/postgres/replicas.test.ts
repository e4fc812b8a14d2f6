import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

import { type Fetch, type FetchAnswer, rolloutBucket } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import { releaseWorkflowId } from '../../../common/release';
import { waitForStatus } from '../../../control/releases';
import { AdminApiClient } from '../../../infra/adminApiClient';
import type { Config } from '../../../infra/config';
import { ProcessManager } from '../../../scripts/lib/processes';
import { stackUp, TEST_PROFILE } from '../../../scripts/lib/stack';
import { simulateFleet } from '../../../simulator/fleet';
import { approve, deviceFetch, releaseAwaitingApproval, stepPublished, temporalClient, testConfig } from '../helpers';
import { TEST_EXTRA_ENV } from '../setup';

/**
 * The scale-out shape: two API replicas and two workers sharing PostgreSQL, one
 * Temporal service and MinIO. Runs in the postgres tier (test/tiers/postgres.json) on the
 * suite's stack, to which it adds `api-2` and `worker-2`; it puts the stack back as it was.
 */
describe('API replicas and workers sharing PostgreSQL', function () {
  const pm = new ProcessManager(TEST_PROFILE.home);
  const replica2 = `https://127.0.0.1:${TEST_PROFILE.apiPort + 1}`;
  let caPem: string;
  let ops: string;

  /** The admin API of one replica only (no failover), as `ops`. */
  const adminOf = (url: string) => new AdminApiClient({ url, caPem, token: ops });
  const asOps = async <T>(url: string, fn: (api: AdminApiClient) => Promise<T>): Promise<T> => {
    const api = adminOf(url);
    try {
      return await fn(api);
    } finally {
      await api.close();
    }
  };
  const poll = (as: Fetch, url: string, deviceId: string, channel: string) =>
    as(`${url}/v1/poll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ deviceId, hardwareId: 'devkit-a', channel, currentVersion: '0.0.1' }),
    });
  const codeOf = async (res: FetchAnswer) => ((await res.json()) as { error?: { code?: string } }).error?.code;
  /**
   * Queries go to the worker that last ran the workflow until Temporal moves it on (its sticky
   * queue times out): they fail for a few seconds after that worker was killed.
   */
  const untilAnswered = async <T>(fn: () => Promise<T>, withinMs: number): Promise<T> => {
    const deadline = Date.now() + withinMs;
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(1000);
      }
    }
  };
  /** Replica 2 and worker 2 beside the suite's; `worker` restarts so it can reach either replica. */
  const upWithReplicas = (replicaEnv: Record<string, string> = {}) =>
    stackUp(TEST_PROFILE, { extraEnv: TEST_EXTRA_ENV, replicas: 2, replicaEnv });

  before(async function () {
    // Replicas need the shared store; on PGlite stackUp refuses them (tested below).
    if (!TEST_EXTRA_ENV['DATABASE_URL']) this.skip();
    this.timeout(300_000);
    caPem = await readFile(testConfig().identity.fleetCaCert, 'utf8');
    ops = process.env['OTA_TOKEN']!;
    await pm.stop('worker');
    // Caches far longer than any test: replica 2 sees a change only if it is told.
    await upWithReplicas({ OTA_ROLLOUT_CACHE_MS: '600000', OTA_DEVICE_CACHE_MS: '60000' });
  });

  after(async function () {
    if (!TEST_EXTRA_ENV['DATABASE_URL']) return;
    this.timeout(300_000);
    await pm.stop('api-2');
    await pm.stop('worker-2');
    await pm.stop('worker');
    // The suite's shape again (and whatever a test killed, started).
    await stackUp(TEST_PROFILE, { extraEnv: TEST_EXTRA_ENV });
  });

  describe('when a change is made through replica 1', () => {
    // First: replica 2 has not loaded the rollout yet, so its first poll sees the published step.
    it('a pause there stops replica 2 offering the release within moments (its notification), despite its long rollout cache', async () => {
      const channel = 'replicas';
      const as = await deviceFetch('rep-poller', channel);
      // A long bake keeps the release in its rollout (a stable one cannot be paused).
      await releaseAwaitingApproval(channel, '1.0.0', { steps: '100', bake: '10m' });
      await approve(channel, '1.0.0');
      await waitForStatus(await temporalClient(), { channel, version: '1.0.0' }, stepPublished(100));
      const offered = await poll(as, replica2, 'rep-poller', channel);
      expect(((await offered.json()) as { offer: { version: string } | null }).offer).to.include({ version: '1.0.0' });

      await asOps(testConfig().api.url, (api) =>
        api.send('POST', `/v1/admin/releases/${channel}/1.0.0/pause`, { reason: 'replica test' }),
      );
      // NOTIFY reaches replica 2 asynchronously (milliseconds; more on a loaded machine): its
      // polls may offer until it arrives, never for the cache's 10 minutes.
      const deadline = Date.now() + 2000;
      let paused: unknown;
      for (;;) {
        const res = await poll(as, replica2, 'rep-poller', channel);
        expect(res.status).to.equal(200);
        paused = await res.json();
        if ((paused as { offer: unknown }).offer === null || Date.now() > deadline) break;
        await sleep(50);
      }
      expect(paused).to.deep.equal({ offer: null });
    });

    it('a device revoked there is refused DEVICE_REVOKED by replica 2 within moments (its notification), though replica 2 authorized it from memory', async () => {
      const as = await deviceFetch('rep-revoked', 'replicas');
      // Twice: the second is answered from replica 2's device cache (a minute here).
      for (let i = 0; i < 2; i++) expect((await poll(as, replica2, 'rep-revoked', 'replicas')).status).to.equal(200);
      await asOps(testConfig().api.url, (api) =>
        api.send('POST', '/v1/admin/devices/rep-revoked/revoke', { reason: 'stolen' }),
      );
      // As with a pause: replica 2 may answer until the notification arrives (milliseconds),
      // never for the cache's minute; once refused, always refused.
      const deadline = Date.now() + 1000;
      let after = await poll(as, replica2, 'rep-revoked', 'replicas');
      while (after.status === 200 && Date.now() < deadline) {
        await after.json();
        await sleep(20);
        after = await poll(as, replica2, 'rep-revoked', 'replicas');
      }
      expect(after.status).to.equal(403);
      expect(await codeOf(after)).to.equal('DEVICE_REVOKED');
      for (let i = 0; i < 3; i++) {
        const again = await poll(as, replica2, 'rep-revoked', 'replicas');
        expect(again.status).to.equal(403);
        expect(await codeOf(again)).to.equal('DEVICE_REVOKED');
      }
    });

    it('labels set there are what replica 2 shows', async () => {
      await deviceFetch('rep-labelled', 'replicas');
      await asOps(testConfig().api.url, (api) =>
        api.send('POST', '/v1/admin/devices/rep-labelled/labels', { groups: ['canary'], tags: { site: 'lyon' } }),
      );
      const shown = await asOps(replica2, (api) =>
        api.get<{ groups: string[]; tags: Record<string, string> }>('/v1/admin/devices/rep-labelled'),
      );
      expect(shown.groups).to.deep.equal(['canary']);
      expect(shown.tags).to.deep.equal({ site: 'lyon' });
    });
  });

  describe('when the worker makes a change by itself', () => {
    it('its next rollout step is offered by replica 2 within moments (the publication is reported and notified), despite its long rollout cache', async () => {
      const channel = 'replica-step';
      const releaseId = releaseWorkflowId(channel, '1.0.0');
      let deviceId = '';
      for (let i = 0; !deviceId; i++) if (rolloutBucket(releaseId, `rep-step-${i}`) >= 5000) deviceId = `rep-step-${i}`;
      const as = await deviceFetch(deviceId, channel);
      const client = await temporalClient();
      await releaseAwaitingApproval(channel, '1.0.0', { steps: '50,100', bake: '20s' });
      await approve(channel, '1.0.0');
      await waitForStatus(client, { channel, version: '1.0.0' }, stepPublished(50));
      // Replica 2 reads the 50% step (outside this device's bucket) into its cache.
      const before = await poll(as, replica2, deviceId, channel);
      expect(await before.json()).to.deep.equal({ offer: null });
      expect((await waitForStatus(client, { channel, version: '1.0.0' }, () => true)).published?.percent).to.equal(50);

      // The bake ends and the worker publishes 100% by itself; no route of any replica is involved.
      await waitForStatus(client, { channel, version: '1.0.0', timeoutMs: 90_000 }, stepPublished(100));
      const deadline = Date.now() + 2000;
      let offered: unknown;
      for (;;) {
        const res = await poll(as, replica2, deviceId, channel);
        expect(res.status).to.equal(200);
        offered = await res.json();
        if ((offered as { offer: unknown }).offer !== null || Date.now() > deadline) break;
        await sleep(50);
      }
      expect((offered as { offer: { version: string } | null }).offer).to.include({ version: '1.0.0' });
    });
  });

  describe('when replica 1 is killed mid-rollout', () => {
    it('devices carry on through replica 2 and the workers finish the release through it', async () => {
      const channel = 'replica-failover';
      await releaseAwaitingApproval(channel, '2.0.0', { steps: '50,100', bake: '3s' });
      await approve(channel, '2.0.0');
      const client = await temporalClient();
      await waitForStatus(client, { channel, version: '2.0.0' }, stepPublished(50));
      expect(await pm.stop('api', { kill: true })).to.equal(true);

      const base = testConfig();
      const viaReplica2: Config = { ...base, api: { ...base.api, url: replica2, failoverUrls: [] } };
      const tally = await simulateFleet(viaReplica2, {
        devices: 6,
        hardwareId: 'devkit-a',
        channel,
        fromVersion: '1.0.0',
        untilVersion: '2.0.0',
        idPrefix: 'rep-fo-',
        timeoutMs: 90_000,
        intervalMs: 300,
      });
      expect(tally.versions).to.deep.equal({ '2.0.0': 6 });
      const s = await waitForStatus(
        client,
        { channel, version: '2.0.0', timeoutMs: 90_000 },
        (x) => x.stage === 'stable',
      );
      expect(s.history.filter((h) => h.action === 'step').map((h) => h.detail)).to.deep.equal(['50%', '100%']);
      await upWithReplicas();
    });
  });

  describe('when a worker is killed mid-rollout', () => {
    it('the other worker finishes the release', async () => {
      const channel = 'replica-worker';
      await releaseAwaitingApproval(channel, '1.0.0', { steps: '50,100', bake: '4s' });
      await approve(channel, '1.0.0');
      const client = await temporalClient();
      await waitForStatus(client, { channel, version: '1.0.0' }, stepPublished(50));
      expect(await pm.stop('worker', { kill: true })).to.equal(true);
      const s = await untilAnswered(
        () => waitForStatus(client, { channel, version: '1.0.0', timeoutMs: 10_000 }, (x) => x.stage === 'stable'),
        120_000,
      );
      expect(s.history.filter((h) => h.action === 'step').map((h) => h.detail)).to.deep.equal(['50%', '100%']);
      expect(pm.running('worker')).to.equal(undefined);
      expect(pm.running('worker-2')).to.be.a('number');
    });
  });

  describe('stackUp', () => {
    it('refuses a second replica without PostgreSQL (CONFIG_INVALID)', async () => {
      const { DATABASE_URL: _, ...pglite } = TEST_EXTRA_ENV;
      const err = await stackUp(TEST_PROFILE, { extraEnv: pglite, replicas: 2 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).to.have.property('code', 'CONFIG_INVALID');
    });
  });
});
