import { readFile } from 'node:fs/promises';

import { createTransport, type Fetch, type FetchAnswer } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import type { MetadataStatus, MetadataWatermark } from '../../../common/adminApi';
import { releaseWorkflowId } from '../../../common/release';
import { waitForStatus } from '../../../control/releases';
import { Storage } from '../../../infra/storage';
import { ProcessManager } from '../../../scripts/lib/processes';
import { stackToken, stackUp, TEST_PROFILE } from '../../../scripts/lib/stack';
import { waitFor } from '../../wait';
import {
  adminApi,
  apiGet,
  approve,
  deviceFetch,
  type ErrorAnswer,
  ota,
  otaWithToken,
  releaseAwaitingApproval,
  temporalClient,
  testConfig,
} from '../helpers';
import { startReceiver, verifiedEvents } from '../receivers';
import { TEST_EXTRA_ENV } from '../setup';

const TIMESTAMP = 'rollout/timestamp.json';

/**
 * Storage rollback noticed on the server (S-25): MinIO's current rollout timestamp is
 * replaced by an older, validly signed copy (a restored backup, or an attacker with bucket
 * access). Devices would refuse it by themselves; the servers must notice too: the API
 * refuses to serve it or decide offers from it, the worker refuses to build on it, and
 * operators see it in a metric and `ota metadata status`, across an API restart.
 */
describe('security: storage rolled back to older signed metadata (S-25)', function () {
  this.timeout(300_000);
  const channel = 'storage-rollback';
  const storage = () => new Storage(testConfig().minio);
  let newest: Buffer | undefined;
  let older: Buffer;

  after(async function () {
    this.timeout(120_000);
    if (newest) await storage().putBytes('metadata', TIMESTAMP, newest);
    await stackUp(TEST_PROFILE, { extraEnv: TEST_EXTRA_ENV });
  });

  const poll = (as: Fetch) =>
    as(`${testConfig().api.url}/v1/poll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ deviceId: 'rb-device', hardwareId: 'devkit-a', channel, currentVersion: '0.0.1' }),
    });
  const codeOf = async (res: FetchAnswer) => ((await res.json()) as { error?: { code?: string } }).error?.code;
  const metrics = async () => {
    const fetch = createTransport({ caPem: await readFile(testConfig().identity.fleetCaCert, 'utf8') });
    return (
      await fetch(`${testConfig().api.url}/metrics`, {
        headers: { authorization: `Bearer ${process.env['OTA_TOKEN']}` },
      })
    ).text();
  };
  const send = async (action: string) => {
    const api = await adminApi();
    try {
      await api.send('POST', `/v1/admin/releases/${channel}/1.0.0/${action}`, { reason: 'storage rollback test' });
    } finally {
      await api.close();
    }
  };

  // First: nothing has read the rollout repository since the stack started but this test's own polls.
  it('is refused when the timestamp before a pause is put back at once, before any replica read the pause', async () => {
    const unread = 'storage-rollback-unread';
    const client = await temporalClient();
    const as = await deviceFetch('rb-unread', unread);
    const pollUnread = () =>
      as(`${testConfig().api.url}/v1/poll`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          deviceId: 'rb-unread',
          hardwareId: 'devkit-a',
          channel: unread,
          currentVersion: '0.0.1',
        }),
      });
    // A webhook subscriber hears of the refused rollback too.
    const receiver = await startReceiver();
    const hook = await otaWithToken(
      await stackToken(TEST_PROFILE, 'admin'),
      'webhook',
      'add',
      '--url',
      receiver.url,
      '--event',
      'storage.rollback-detected',
      '--json',
    );
    expect(hook.code, hook.stdout).to.equal(0);
    await releaseAwaitingApproval(unread, '1.0.0', { steps: '100', bake: '1h' });
    await approve(unread, '1.0.0');
    await waitForStatus(client, { channel: unread, version: '1.0.0' }, (s) => s.published?.percent === 100);
    const offered = (await (await pollUnread()).json()) as { offer: { version: string } | null };
    expect(offered.offer).to.include({ version: '1.0.0' });
    const beforePause = (await storage().getBytes('metadata', TIMESTAMP, 1 << 20))!;

    // The pause is signed and in storage when the route answers; no device has polled since.
    const api = await adminApi();
    try {
      await api.send('POST', `/v1/admin/releases/${unread}/1.0.0/pause`, { reason: 'storage rollback test' });
    } finally {
      await api.close();
    }
    newest = (await storage().getBytes('metadata', TIMESTAMP, 1 << 20))!;
    expect(newest.equals(beforePause), 'the pause published a new timestamp').to.equal(false);
    await storage().putBytes('metadata', TIMESTAMP, beforePause);

    // The pause's own publish raised the watermarks: the unpaused state is refused, not served.
    const served = await as(`${testConfig().api.url}/v1/repos/rollout/metadata/timestamp.json`);
    expect(served.status).to.equal(503);
    expect(await codeOf(served)).to.equal('STORAGE_ROLLBACK');
    const polled = await pollUnread();
    expect(polled.status).to.equal(503);
    expect(await codeOf(polled)).to.equal('STORAGE_ROLLBACK');
    expect(await metrics()).to.match(/ota_metadata_storage_rollbacks_total\{repo="rollout",role="timestamp"\} [1-9]/);
    const status = await ota('metadata', 'status', '--json');
    expect(status.code).to.equal(1);
    expect((status.json as MetadataStatus).problems.join('\n')).to.match(/rollout timestamp: .*STORAGE_ROLLBACK/);
    const [told] = await waitFor('the storage.rollback-detected event', async () => {
      const got = verifiedEvents(await receiver.received(), (hook.json as { secret: string }).secret);
      return got.length > 0 && got;
    });
    expect(told!.type).to.equal('dev.enigm-ota.storage.rollback-detected');
    expect(told!.data).to.include({ repo: 'rollout', role: 'timestamp' });
    expect(Number(told!.data['found'])).to.be.below(Number(told!.data['highest']));
    await receiver.stop();

    await storage().putBytes('metadata', TIMESTAMP, newest);
    newest = undefined;
    expect(await (await pollUnread()).json()).to.deep.equal({ offer: null });
  });

  it('raises no watermark for a reported publication that does not verify (VALIDATION_FAILED)', async () => {
    const timestamp = (await storage().getBytes('metadata', TIMESTAMP, 1 << 20))!;
    const named = (JSON.parse(timestamp.toString()) as { signed: { meta: Record<string, { version: number }> } }).signed
      .meta['snapshot.json']!.version;
    const snapshot = (await storage().getBytes('metadata', `rollout/${named}.snapshot.json`, 1 << 20))!;
    const forged = JSON.parse(timestamp.toString()) as { signed: { version: number } };
    forged.signed.version = 1_000_000;
    const report = async (t: Buffer, s: Buffer) => {
      const api = await adminApi();
      try {
        return await api
          .send('POST', '/v1/admin/metadata/published', {
            repo: 'rollout',
            timestamp: t.toString('base64'),
            snapshot: s.toString('base64'),
          })
          .then(
            () => undefined,
            (e: unknown) => e,
          );
      } finally {
        await api.close();
      }
    };
    const older = (await storage().getBytes('metadata', 'rollout/1.snapshot.json', 1 << 20))!;
    expect(await report(Buffer.from(JSON.stringify(forged)), snapshot)).to.have.property('code', 'VALIDATION_FAILED');
    expect(await report(timestamp, older)).to.have.property('code', 'VALIDATION_FAILED');
    const marks = await apiGet<MetadataWatermark[]>('/v1/admin/metadata/watermarks');
    expect(marks.find((m) => m.repo === 'rollout' && m.role === 'timestamp')?.version).to.be.below(1_000_000);
    // The genuine pair is admitted: the watermarks stand at least at it.
    expect(await report(timestamp, snapshot)).to.equal(undefined);
  });

  it('is refused by the API and the worker with STORAGE_ROLLBACK, alerted, and cleared once storage is restored', async () => {
    const client = await temporalClient();
    const as = await deviceFetch('rb-device', channel);
    await releaseAwaitingApproval(channel, '1.0.0', { steps: '50,100', bake: '1h' });
    await approve(channel, '1.0.0');
    await waitForStatus(client, { channel, version: '1.0.0' }, (s) => s.published?.percent === 50);
    expect((await poll(as)).status).to.equal(200);
    older = (await storage().getBytes('metadata', TIMESTAMP, 1 << 20))!;

    // A newer rollout state (the release paused), seen by the API through a device's poll.
    await send('pause');
    await waitForStatus(client, { channel, version: '1.0.0' }, (s) => s.published?.paused === true);
    expect(await (await poll(as)).json()).to.deep.equal({ offer: null });
    newest = (await storage().getBytes('metadata', TIMESTAMP, 1 << 20))!;

    // Storage rolled back: the older state would offer the paused release again.
    await storage().putBytes('metadata', TIMESTAMP, older);
    const served = await as(`${testConfig().api.url}/v1/repos/rollout/metadata/timestamp.json`);
    expect(served.status).to.equal(503);
    expect(await codeOf(served)).to.equal('STORAGE_ROLLBACK');
    const polled = await poll(as);
    expect(polled.status).to.equal(503);
    expect(await codeOf(polled)).to.equal('STORAGE_ROLLBACK');
    expect(await metrics()).to.match(/ota_metadata_storage_rollbacks_total\{repo="rollout",role="timestamp"\} [1-9]/);

    // The worker does not build on it: a resume's publish waits (the API answers
    // UPDATE_PENDING after its deadline), storage untouched.
    const resumed = send('resume').then(
      () => undefined,
      (e: unknown) => e,
    );
    const handle = client.workflow.getHandle(releaseWorkflowId(channel, '1.0.0'));
    const refusedBy = async () =>
      (await handle.describe()).raw.pendingActivities?.find(
        (a) => a.lastFailure?.applicationFailureInfo?.type === 'STORAGE_ROLLBACK',
      )?.lastFailure?.message;
    expect(
      await waitFor('the publish activity refused with STORAGE_ROLLBACK', refusedBy, {
        timeoutMs: 30_000,
        intervalMs: 500,
      }),
    ).to.contain('rollout timestamp');
    expect(
      (await storage().getBytes('metadata', TIMESTAMP, 1 << 20))!.equals(older),
      'the worker wrote on top of the rolled-back timestamp',
    ).to.equal(true);
    expect((await waitForStatus(client, { channel, version: '1.0.0' }, () => true)).published).to.include({
      paused: true,
    });

    const status = await ota('metadata', 'status', '--json');
    expect(status.code).to.equal(1);
    const report = status.json as MetadataStatus;
    expect(report.problems.join('\n')).to.match(
      /rollout timestamp: storage holds version \d+, older than version \d+ .*STORAGE_ROLLBACK/,
    );
    expect(report.watermarks.find((m) => m.repo === 'rollout' && m.role === 'timestamp')?.lastRollback).to.be.an(
      'object',
    );

    expect(await resumed).to.have.property('code', 'UPDATE_PENDING');

    // A restarted API remembers (the watermarks are in the fleet store).
    expect(await new ProcessManager(TEST_PROFILE.home).stop('api')).to.equal(true);
    await stackUp(TEST_PROFILE, { extraEnv: TEST_EXTRA_ENV });
    expect(await codeOf(await poll(as))).to.equal('STORAGE_ROLLBACK');

    // Restored: served again, and the worker's pending publish goes through.
    await storage().putBytes('metadata', TIMESTAMP, newest);
    newest = undefined;
    await waitForStatus(client, { channel, version: '1.0.0', timeoutMs: 90_000 }, (s) => s.published?.paused === false);
    const after = await poll(as);
    expect(after.status).to.equal(200);
    const healthy = (await ota('metadata', 'status', '--json')).json as MetadataStatus;
    expect(healthy.problems.join('\n')).to.not.contain('STORAGE_ROLLBACK');
  });

  it('is served again after an admin accepts a deliberately restored storage (audited with the reason)', async () => {
    const as = await deviceFetch('rb-device', channel);
    const current = (await storage().getBytes('metadata', TIMESTAMP, 1 << 20))!;
    await storage().putBytes('metadata', TIMESTAMP, older);
    newest = current; // put back after the test whatever happens
    expect(await codeOf(await poll(as))).to.equal('STORAGE_ROLLBACK');

    const noReason = await otaWithToken(
      await stackToken(TEST_PROFILE, 'admin'),
      'metadata',
      'accept-storage',
      'rollout',
      '--json',
    );
    expect(noReason.code).to.equal(2);
    const notAdmin = await ota('metadata', 'accept-storage', 'rollout', '--reason', 'ops is no admin', '--json');
    expect((notAdmin.json as ErrorAnswer).error.code).to.equal('FORBIDDEN');
    const accepted = await otaWithToken(
      await stackToken(TEST_PROFILE, 'admin'),
      'metadata',
      'accept-storage',
      'rollout',
      '--reason',
      "restored from last night's backup",
      '--json',
    );
    expect(accepted.code, accepted.stdout + accepted.stderr).to.equal(0);
    expect((accepted.json as { cleared: Array<{ role: string }> }).cleared.map((m) => m.role)).to.include('timestamp');
    await waitFor('the restored state served', async () => (await poll(as)).status === 200, {
      timeoutMs: 10_000,
      intervalMs: 500,
    });
    const audit = await apiGet<Array<{ action: string; subject: string; reason?: string; outcome: string }>>(
      '/v1/admin/audit?action=metadata.accept-storage&limit=5',
    );
    expect(audit[0]).to.include({ subject: 'rollout', reason: "restored from last night's backup", outcome: 'ok' });
  });
});
