import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

import { type DeviceAgent, SIGNED_AT_FIELD } from '@enigm-ota/client-sdk';
import { Metadata, MetadataKind, type Timestamp } from '@tufjs/models';
import { expect } from 'chai';

import { FRESHNESS_SCHEDULE_ID } from '../../../common/temporalNames';
import { waitForStatus } from '../../../control/releases';
import { Storage } from '../../../infra/storage';
import { stackDown, stackEnv, type StackProfile, stackUp, TEST_PROFILE } from '../../../scripts/lib/stack';
import { parseTufJson } from '../../../trust/tufJson';
import { signMetadata } from '../../../trust/tufKeys';
import { createActivityDeps } from '../../../worker/deps';
import { waitFor } from '../../wait';
import {
  approve,
  closeTemporalClient,
  device,
  deviceFetch,
  ota,
  refusalOf,
  releaseAwaitingApproval,
  stepPublished,
  temporalClient,
  testConfig,
} from '../helpers';
import { startCompromisedApi } from '../security/proxy';
import { TEST_EXTRA_ENV } from '../setup';

/**
 * Partitioned metadata (D-16): a stack that has run on the flat layout moves to one file
 * set per channel and hardware (`ota keys partition`, a signed root change), and devices that
 * installed from the flat layout follow that root into their own partition without being
 * provisioned again. It runs on a stack of its own (the move changes the repositories for
 * good), on ports beside the suite's.
 */
describe('partitioned metadata: moving a running fleet (D-16)', function () {
  this.timeout(600_000);
  const OWN: StackProfile = {
    home: `${TEST_PROFILE.home}-partitions`,
    temporalPort: TEST_PROFILE.temporalPort + 5,
    uiPort: TEST_PROFILE.uiPort + 5,
    minioPort: TEST_PROFILE.minioPort + 5,
    minioConsolePort: TEST_PROFILE.minioConsolePort + 5,
    apiPort: TEST_PROFILE.apiPort + 5,
    workerMetricsPort: TEST_PROFILE.workerMetricsPort + 5,
    traces: { otlpPort: TEST_PROFILE.traces.otlpPort + 5, uiPort: TEST_PROFILE.traces.uiPort + 5 },
    tlogPort: TEST_PROFILE.tlogPort + 5,
    witnessPort: TEST_PROFILE.witnessPort + 5,
  };
  const channel = 'parts';
  // The suite's environment, as its stack set it up (taken in `before`, not at load time).
  let suiteEnv: NodeJS.ProcessEnv = {};
  const storage = () => new Storage(testConfig().minio);
  const targetsOf = async (key: string) => {
    const timestamp = JSON.parse(
      (await storage().getBytes('metadata', `${key}/timestamp.json`, 1 << 20))!.toString(),
    ) as { signed: { meta: Record<string, { version: number }> } };
    const snapshot = JSON.parse(
      (await storage().getBytes(
        'metadata',
        `${key}/${timestamp.signed.meta['snapshot.json']!.version}.snapshot.json`,
        1 << 20,
      ))!.toString(),
    ) as { signed: { meta: Record<string, { version: number }> } };
    const targets = JSON.parse(
      (await storage().getBytes(
        'metadata',
        `${key}/${snapshot.signed.meta['targets.json']!.version}.targets.json`,
        1 << 24,
      ))!.toString(),
    ) as { signed: { targets: Record<string, unknown> } };
    return Object.keys(targets.signed.targets).sort();
  };
  const timestampKey = (hardware: string) => `rollout/p/${channel}/${hardware}/timestamp.json`;
  const storedTimestamp = async (hardware: string) => {
    const bytes = (await storage().getBytes('metadata', timestampKey(hardware), 1 << 20))!;
    return { bytes, md: Metadata.fromJSON(MetadataKind.Timestamp, parseTufJson(bytes)) };
  };
  const signedAt = (md: Metadata<Timestamp>) => Date.parse(md.signed.unrecognizedFields[SIGNED_AT_FIELD] as string);
  const release = async (version: string, index: number, hardware = 'devkit-a') => {
    await releaseAwaitingApproval(channel, version, { rollbackIndex: index, hardware });
    await approve(channel, version);
    await waitForStatus(await temporalClient(), { channel, version }, (s) => s.stage === 'stable');
  };

  before(async function () {
    this.timeout(300_000);
    suiteEnv = { ...process.env };
    await stackDown(OWN);
    await rm(OWN.home, { recursive: true, force: true });
    // One stable release per partition stays offered, so retirement shows after two releases.
    const extraEnv: Record<string, string> = { ...TEST_EXTRA_ENV, OTA_KEEP_STABLE_RELEASES: '1' };
    delete extraEnv['DATABASE_URL'];
    await stackUp(OWN, { extraEnv });
    await closeTemporalClient();
    Object.assign(process.env, await stackEnv(OWN), extraEnv);
  });

  after(async function () {
    this.timeout(120_000);
    await closeTemporalClient();
    await stackDown(OWN);
    for (const key of Object.keys(process.env)) if (!(key in suiteEnv)) delete process.env[key];
    Object.assign(process.env, suiteEnv);
  });

  let a: DeviceAgent;
  let b: DeviceAgent;

  it('moves both repositories with a root change; devices that installed from the flat layout follow it into their partition', async () => {
    a = await device('parts-a', channel);
    b = await device('parts-b', channel, { hardwareId: 'devkit-b' });
    await release('1.0.0', 1);
    expect(await a.checkForUpdate()).to.deep.include({ status: 'installed', version: '1.0.0' });

    for (const repo of ['release', 'rollout']) {
      const moved = await ota('keys', 'partition', repo, '--json');
      expect(moved.code, moved.stdout + moved.stderr).to.equal(0);
      expect(JSON.parse(moved.stdout)).to.deep.include({
        repository: repo,
        rootVersion: 2,
        partitions: [`${channel}/devkit-a`],
      });
    }
    const again = await ota('keys', 'partition', 'rollout', '--json');
    expect(again.code).to.equal(2);
    expect(again.stdout + again.stderr).to.contain('already partitioned');

    await release('1.1.0', 2);
    expect(await a.checkForUpdate()).to.deep.include({ status: 'installed', version: '1.1.0' });
    const dir = join(testConfig().home, 'test-devices', 'parts-a', 'metadata');
    for (const repo of ['release', 'rollout']) {
      expect(
        existsSync(join(dir, repo, 'p', channel, 'devkit-a', 'timestamp.json')),
        `${repo} partition state`,
      ).to.equal(true);
      const root = JSON.parse(await readFile(join(dir, repo, 'root.json'), 'utf8')) as { signed: { version: number } };
      expect(root.signed.version, `${repo} root carried up`).to.equal(2);
    }
    // A device of other hardware reads its own partition, which has nothing for it.
    expect(await b.checkForUpdate()).to.deep.include({ status: 'up-to-date' });
  });

  it('keeps only what a partition needs: the retired release leaves both repositories', async () => {
    expect(await targetsOf(`rollout/p/${channel}/devkit-a`)).to.deep.equal([
      `${channel}/1.1.0/fw-${channel}-1.1.0.bin`,
    ]);
    expect(await targetsOf(`release/p/${channel}/devkit-a`)).to.deep.equal([
      `${channel}/1.1.0/fw-${channel}-1.1.0.bin`,
    ]);
    // The flat set stays as it was for devices still on the way.
    expect(await targetsOf('rollout')).to.deep.equal([`${channel}/1.0.0/fw-${channel}-1.0.0.bin`]);
  });

  it("serves a device only its own partition (METADATA_REFUSED), and a device refuses another partition's files", async () => {
    const as = await deviceFetch('parts-a', channel);
    const other = await as(`${testConfig().api.url}/v1/repos/rollout/p/${channel}/devkit-b/metadata/timestamp.json`);
    expect(other.status).to.equal(403);
    expect((await refusalOf(other)).code).to.equal('METADATA_REFUSED');

    // Storage holds devkit-b's validly signed timestamp in devkit-a's place, newer than
    // devkit-a's own (an older one is already refused by the API: STORAGE_ROLLBACK).
    await release('1.2.0', 3, 'devkit-b');
    await release('1.3.0', 4);
    const own = `rollout/p/${channel}/devkit-a/timestamp.json`;
    const versionAt = async (key: string) =>
      (JSON.parse((await storage().getBytes('metadata', key, 1 << 20))!.toString()) as { signed: { version: number } })
        .signed.version;
    const deps = await createActivityDeps(testConfig());
    try {
      while ((await versionAt(`rollout/p/${channel}/devkit-b/timestamp.json`)) <= (await versionAt(own))) {
        await deps.repos.rollout.partition(channel, 'devkit-b').refreshExpiring(1_000_000);
      }
    } finally {
      await deps.close();
    }
    const kept = (await storage().getBytes('metadata', own, 1 << 20))!;
    await storage().putBytes(
      'metadata',
      own,
      (await storage().getBytes('metadata', `rollout/p/${channel}/devkit-b/timestamp.json`, 1 << 20))!,
    );
    try {
      // The API offers nothing from a file that does not verify as this partition's ...
      const poll = await as(`${testConfig().api.url}/v1/poll`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ deviceId: 'parts-a', hardwareId: 'devkit-a', channel, currentVersion: '1.1.0' }),
      });
      expect(poll.status).to.equal(422);
      // ... and passes it on as stored, for the device to refuse, offer or not.
      const forced = await a.installOffer({ targetName: `${channel}/1.3.0/fw-${channel}-1.3.0.bin`, version: '1.3.0' });
      expect(forced).to.deep.include({ status: 'refused', code: 'METADATA_INCONSISTENT' });
      expect((forced as { message: string }).message).to.contain(`names partition "${channel}/devkit-b"`);
    } finally {
      await storage().putBytes('metadata', own, kept);
    }
    expect(await a.checkForUpdate()).to.deep.include({ status: 'installed', version: '1.3.0' });
    expect(await b.checkForUpdate()).to.deep.include({ status: 'installed', version: '1.2.0' });
  });

  it('shows every partition in `ota metadata status`', async () => {
    const status = await ota('metadata', 'status', '--json');
    const report = JSON.parse(status.stdout) as {
      repositories: Record<string, Array<{ role: string; partition?: string }>>;
    };
    const partitions = new Set(report.repositories['rollout']!.flatMap((r) => (r.partition ? [r.partition] : [])));
    expect([...partitions].sort()).to.deep.equal([`${channel}/devkit-a`, `${channel}/devkit-b`]);
  });

  it('keeps rollback protection into a partition (D-18): an older, validly signed state is refused on entry (METADATA_STALE) and by a device that had a newer one (METADATA_ROLLBACK)', async () => {
    const config = testConfig();
    // A compromised API: it recorded every state it served.
    const proxy = await startCompromisedApi(config);
    try {
      const withdrawn = `${channel}/1.4.0/fw-${channel}-1.4.0.bin`;
      await releaseAwaitingApproval(channel, '1.4.0', { rollbackIndex: 4, steps: '100', bake: '1h' });
      await approve(channel, '1.4.0');
      await waitForStatus(await temporalClient(), { channel, version: '1.4.0' }, stepPublished(100));
      const recorded = await storedTimestamp('devkit-a'); // 1.4.0 offered to every device
      const r = await ota('release', 'rollback', '1.4.0', '--channel', channel, '--reason', 'bricks devices', '--json');
      expect(r.code, r.stdout + r.stderr).to.equal(0);
      const current = await storedTimestamp('devkit-a');
      expect(current.md.signed.version).to.be.greaterThan(recorded.md.signed.version);
      expect(signedAt(current.md), 'the withdrawal signed later').to.be.greaterThan(signedAt(recorded.md));
      // What the freshness Schedule does for every partition: the release repository's
      // timestamp, last signed with 1.4.0, is signed again after the withdrawal.
      const deps = await createActivityDeps(config);
      try {
        await deps.repos.release.partition(channel, 'devkit-a').refreshExpiring(1_000_000);
      } finally {
        await deps.close();
      }

      // A device already in the partition looks at 1.4.0 and so holds the newer state: its
      // versions are the floor.
      expect(await a.installOffer({ targetName: withdrawn, version: '1.4.0' })).to.deep.include({ status: 'refused' });
      const replayTo = (agent: DeviceAgent) => {
        proxy.tamper = (path) =>
          path.endsWith(`/rollout/p/${channel}/devkit-a/metadata/timestamp.json`) ? recorded.bytes : undefined;
        return agent.installOffer({ targetName: withdrawn, version: '1.4.0' });
      };
      const aViaProxy = await device('parts-a', channel, { apiUrl: proxy.url });
      proxy.client = await aViaProxy.identity();
      expect(await replayTo(aViaProxy)).to.deep.include({ status: 'refused', code: 'METADATA_ROLLBACK' });
      expect((await aViaProxy.state()).currentVersion).to.equal('1.3.0');

      // A device entering the partition (provisioned with the flat root, it follows the root
      // that moved the repository) holds no version of it. Its clock reads the bound past the
      // midpoint of the two signings: as if the recorded state were replayed that much later.
      const mid = (signedAt(recorded.md) + signedAt(current.md)) / 2;
      const entering = { apiUrl: proxy.url, now: () => new Date(mid + 6 * 3_600_000) };
      proxy.tamper = undefined;
      proxy.client = undefined; // enrollment passes through, then the proxy speaks as the device
      const c = await device('parts-c', channel, entering);
      proxy.client = await c.identity();
      expect(await replayTo(c)).to.deep.include({ status: 'refused', code: 'METADATA_STALE' });
      expect((await c.state()).currentVersion).to.equal('0.0.0');
      expect(
        existsSync(
          join(
            config.home,
            'test-devices',
            'parts-c',
            'metadata',
            'rollout',
            'p',
            channel,
            'devkit-a',
            'timestamp.json',
          ),
        ),
        'the refused timestamp was not kept',
      ).to.equal(false);
      // The current state, signed within the bound, is taken: the device enters its partition,
      // where 1.4.0 is withdrawn, and installs the next release.
      proxy.tamper = undefined;
      expect(await c.installOffer({ targetName: withdrawn, version: '1.4.0' })).to.deep.include({
        status: 'refused',
        code: 'RELEASE_WITHDRAWN',
      });
      await release('1.5.0', 5);
      expect(await c.checkForUpdate()).to.deep.include({ status: 'installed', version: '1.5.0' });
    } finally {
      await proxy.close();
    }
  });

  it("re-signs a partition's timestamp once it is half an hour old, so entering devices find it within their bound", async () => {
    // The devkit-b timestamp as the worker would have signed it two hours ago.
    const old = await storedTimestamp('devkit-b');
    const json = old.md.toJSON() as { signed: { version: number } & Record<typeof SIGNED_AT_FIELD, string> };
    json.signed[SIGNED_AT_FIELD] = new Date(Date.now() - 2 * 3_600_000).toISOString();
    json.signed.version += 1;
    const aged = Metadata.fromJSON(MetadataKind.Timestamp, json);
    aged.signatures = {};
    const deps = await createActivityDeps(testConfig());
    try {
      signMetadata(aged, (await deps.repos.rollout.partition(channel, 'devkit-b').signers()).timestamp);
    } finally {
      await deps.close();
    }
    await storage().putBytes('metadata', timestampKey('devkit-b'), Buffer.from(JSON.stringify(aged.toJSON())));
    const recent = await storedTimestamp('devkit-a');
    expect(Date.now() - signedAt(recent.md)).to.be.below(30 * 60_000);

    const client = await temporalClient();
    const schedule = client.schedule.getHandle(FRESHNESS_SCHEDULE_ID);
    const triggeredAt = Date.now();
    await schedule.trigger();
    const run = await waitFor('the triggered freshness run', async () => {
      const last = (await schedule.describe()).info.recentActions.at(-1);
      return last && last.takenAt.getTime() >= triggeredAt - 1000 && 'workflow' in last.action && last.action.workflow;
    });
    await client.workflow.getHandle(run.workflowId, run.firstExecutionRunId).result();

    const renewed = await storedTimestamp('devkit-b');
    expect(renewed.md.signed.version).to.be.greaterThan(aged.signed.version);
    expect(Date.now() - signedAt(renewed.md)).to.be.below(30 * 60_000);
    // Signed for the default lifetime: a day (the expiry is in whole seconds).
    expect(Date.parse(renewed.md.signed.expires) - signedAt(renewed.md)).to.be.closeTo(24 * 3_600_000, 2_000);
    // One signed within the half hour is left as it is.
    expect((await storedTimestamp('devkit-a')).md.signed.version).to.equal(recent.md.signed.version);
  });
});
