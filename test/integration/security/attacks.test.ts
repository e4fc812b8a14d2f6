import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { type DeviceState, rolloutBucket, type UpdateResult } from '@enigm-ota/client-sdk';
import { Metadata, MetadataKind, type Targets } from '@tufjs/models';
import { expect } from 'chai';

import { waitForStatus } from '../../../control/releases';
import type { TrustedRoots } from '../../../simulator/fleet';
import type { KeyChangeResult } from '../../../trust/keyChanges';
import { HsmKeys } from '../../../trust/keyring';
import { targetFile } from '../../../trust/roleMetadata';
import { parseTufJson } from '../../../trust/tufJson';
import { signMetadata } from '../../../trust/tufKeys';
import { createActivityDeps } from '../../../worker/deps';
import {
  apiGet,
  approve,
  device,
  ota,
  type PollAnswer,
  postJson,
  releaseAwaitingApproval,
  stepPublished,
  temporalClient,
  testConfig,
} from '../helpers';
import { type Proxy, startCompromisedApi } from './proxy';

/**
 * The attack suite: each test is one attack by whoever controls delivery (API, network,
 * storage) or one compromised key, and asserts that the device installed nothing and
 * reported the specific error code. Requirement ids: docs/threat-model.md.
 */
describe('attacks on a device', () => {
  const channel = 'attack';
  const target = 'attack/1.0.0/fw-attack-1.0.0.bin';
  let proxy: Proxy;
  let deps: Awaited<ReturnType<typeof createActivityDeps>>;
  let n = 0;

  before(async () => {
    proxy = await startCompromisedApi(testConfig());
    deps = await createActivityDeps(testConfig());
    await releaseAwaitingApproval(channel, '1.0.0', { rollbackIndex: 1 });
    await approve(channel, '1.0.0');
    await waitForStatus(await temporalClient(), { channel, version: '1.0.0' }, (s) => s.stage === 'stable');
  });
  afterEach(() => {
    proxy.tamper = undefined;
  });
  after(async () => {
    await proxy.close();
    await deps.close();
  });

  /** A fresh device that talks only to the attacker's proxy. */
  async function victim(
    state: DeviceState = { currentVersion: '0.0.0', rollbackIndex: 0 },
    id = `victim-${++n}`,
    onChannel = channel,
    roots?: TrustedRoots,
  ) {
    const stateDir = join(testConfig().home, 'attack-devices', id);
    const agent = await device(id, onChannel, { apiUrl: proxy.url, stateDir, initialState: state }, roots);
    proxy.client = undefined; // enrollment itself passes through the proxy, then the proxy speaks as the victim
    proxy.client = await agent.identity();
    return { agent, id, stateDir, before: state };
  }

  /** Installed nothing: state unchanged, no system image, and the refusal reported with its code. */
  async function expectRefused(
    v: Awaited<ReturnType<typeof victim>>,
    result: UpdateResult,
    code: string,
  ): Promise<void> {
    expect(result, JSON.stringify(result)).to.include({ status: 'refused', code });
    expect(await v.agent.state()).to.deep.equal(v.before);
    expect(await readFile(join(v.stateDir, 'system', 'slots', 'b', 'image')).catch(() => undefined)).to.equal(
      undefined,
    );
    const summary = await apiGet<{ errorCodes: Record<string, number> }>(`/v1/fleet/summary?prefix=${v.id}`);
    expect(summary.errorCodes[code]).to.equal(1);
  }

  const isMeta = (path: string, file: string, repo = 'rollout') =>
    path === `/v1/repos/${repo}/metadata/${file}` || (path.endsWith(`/metadata/${file}`) && path.includes(`/${repo}/`));

  it('unsigned metadata: refused (METADATA_UNTRUSTED)', async () => {
    const v = await victim();
    proxy.tamper = (path, body) => {
      if (!isMeta(path, 'timestamp.json')) return undefined;
      const json = JSON.parse(body.toString()) as { signatures: unknown[] };
      json.signatures = [];
      return Buffer.from(JSON.stringify(json));
    };
    await expectRefused(v, await v.agent.checkForUpdate(), 'METADATA_UNTRUSTED');
  });

  it('tampered metadata (rollout percent raised without a signature): refused (METADATA_UNTRUSTED)', async () => {
    const v = await victim();
    proxy.tamper = (path, body) => {
      if (!/\/rollout\/metadata\/\d+\.targets\.json$/.test(path)) return undefined;
      return Buffer.from(body.toString().replace(/"salt":"/g, '"salt":"forged-'));
    };
    const result = await v.agent.installOffer({ targetName: target, version: '1.0.0' });
    // Versioned files are cached by a device that already has them; a fresh device fetches them.
    await expectRefused(v, result, 'METADATA_UNTRUSTED');
  });

  it('signatures below threshold: release targets with 1 of its 2 required signatures: refused (METADATA_UNTRUSTED)', async () => {
    const root = await deps.repos.release.currentRoot();
    expect(root.signed.roles['targets']!.threshold).to.equal(2);
    const v = await victim();
    let served = 0;
    proxy.tamper = (path, body) => {
      if (!/\/release\/metadata\/\d+\.targets\.json$/.test(path)) return undefined;
      const json = JSON.parse(body.toString()) as { signatures: unknown[] };
      expect(json.signatures.length).to.be.at.least(2);
      json.signatures = json.signatures.slice(0, 1); // one genuine release key signature
      served++;
      return Buffer.from(JSON.stringify(json));
    };
    await expectRefused(v, await v.agent.installOffer({ targetName: target, version: '1.0.0' }), 'METADATA_UNTRUSTED');
    expect(served).to.equal(1);
  });

  it('key revoked after rotation: rollout metadata signed by the rotated-out key is refused (METADATA_UNTRUSTED)', async () => {
    // A device provisioned before the rotation, so it must learn of it from the root chain.
    const first = async (repo: string) => (await deps.storage.getBytes('metadata', `${repo}/1.root.json`, 1 << 20))!;
    const v = await victim(undefined, undefined, channel, {
      release: await first('release'),
      rollout: await first('rollout'),
    });
    const before = await deps.repos.rollout.currentRoot();
    const stolen = before.signed.roles['targets']!.keyIDs[0]!;
    const rotated = await ota('keys', 'rotate', 'rollout', 'targets', '--json');
    expect(rotated.code, rotated.stderr).to.equal(0);
    expect((rotated.json as KeyChangeResult).removed).to.include(stolen);
    const after = await deps.repos.rollout.currentRoot();
    const attacker = new HsmKeys(deps.hsm).signer(stolen)!;
    proxy.tamper = (path, body) => {
      if (!/\/rollout\/metadata\/\d+\.targets\.json$/.test(path)) return undefined;
      const forged = Metadata.fromJSON(MetadataKind.Targets, parseTufJson(body));
      forged.signed.addTarget(
        targetFile({
          name: 'attack/6.6.6/evil.bin',
          length: 4,
          sha256: 'cd'.repeat(32),
          custom: {
            version: '6.6.6',
            channel,
            hardwareIds: ['devkit-a'],
            rollbackIndex: 9,
          },
        }),
      );
      forged.signatures = {};
      signMetadata(forged, [attacker]);
      // The old root would have accepted this file; only the rotation makes it worthless.
      before.verifyDelegate('targets', forged);
      expect(() => after.verifyDelegate('targets', forged)).to.throw();
      return Buffer.from(JSON.stringify(forged.toJSON()));
    };
    await expectRefused(v, await v.agent.installOffer({ targetName: target, version: '1.0.0' }), 'METADATA_UNTRUSTED');
  });

  it('tampered artifact: refused (TARGET_HASH_MISMATCH)', async () => {
    const v = await victim();
    proxy.tamper = (path, body) => {
      if (!path.startsWith('/v1/artifacts/')) return undefined;
      const evil = Buffer.from(body);
      evil[100] = evil[100]! ^ 0xff;
      return evil;
    };
    await expectRefused(v, await v.agent.checkForUpdate(), 'TARGET_HASH_MISMATCH');
  });

  it('endless artifact data: stopped at the signed length (TARGET_LENGTH_MISMATCH)', async () => {
    const v = await victim();
    proxy.tamper = (path, body) =>
      path.startsWith('/v1/artifacts/') ? Buffer.concat([body, Buffer.alloc(4 * 1024 * 1024)]) : undefined;
    await expectRefused(v, await v.agent.checkForUpdate(), 'TARGET_LENGTH_MISMATCH');
  });

  it('endless metadata: refused past the length cap (METADATA_INVALID)', async () => {
    const v = await victim();
    proxy.tamper = (path, body) =>
      isMeta(path, 'timestamp.json') ? Buffer.concat([body, Buffer.alloc(64 * 1024, 0x20)]) : undefined;
    await expectRefused(v, await v.agent.checkForUpdate(), 'METADATA_INVALID');
  });

  it('oversized metadata: a targets file beyond the cap is refused (METADATA_INVALID)', async () => {
    const v = await victim();
    proxy.tamper = (path) =>
      /\/release\/metadata\/\d+\.targets\.json$/.test(path) ? Buffer.alloc(9 * 1024 * 1024, 0x20) : undefined;
    await expectRefused(v, await v.agent.installOffer({ targetName: target, version: '1.0.0' }), 'METADATA_INVALID');
  });

  it('metadata version rollback: an older timestamp after a newer one is refused (METADATA_ROLLBACK)', async () => {
    const v = await victim({ currentVersion: '1.0.0', rollbackIndex: 1 });
    const old = (await deps.storage.getBytes('metadata', 'rollout/timestamp.json', 1 << 20))!;
    await deps.repos.rollout.refreshExpiring(1_000_000); // a newer timestamp exists
    // The device refreshes (and so trusts) the newer metadata; 1.0.0 is not newer for it.
    await v.agent.verify(target, v.before).catch((err: { code?: string }) => expect(err.code).to.equal('NOT_NEWER'));
    proxy.tamper = (path) => (isMeta(path, 'timestamp.json') ? old : undefined);
    await expectRefused(v, await v.agent.installOffer({ targetName: target, version: '1.0.0' }), 'METADATA_ROLLBACK');
  });

  it('freeze: an expired but validly signed timestamp is refused (METADATA_EXPIRED)', async () => {
    const v = await victim();
    const current = Metadata.fromJSON(
      MetadataKind.Timestamp,
      parseTufJson((await deps.storage.getBytes('metadata', 'rollout/timestamp.json', 1 << 20))!),
    );
    const json = current.toJSON() as { signed: { expires: string; version: number } };
    json.signed.expires = '2020-01-01T00:00:00Z';
    json.signed.version += 1000;
    const stale = Metadata.fromJSON(MetadataKind.Timestamp, json);
    stale.signatures = {};
    signMetadata(stale, (await deps.repos.rollout.flat.signers()).timestamp);
    proxy.tamper = (path) => (isMeta(path, 'timestamp.json') ? Buffer.from(JSON.stringify(stale.toJSON())) : undefined);
    await expectRefused(v, await v.agent.checkForUpdate(), 'METADATA_EXPIRED');
  });

  it('mix-and-match: an older targets file served as the current version is refused (METADATA_INCONSISTENT)', async () => {
    const v = await victim();
    proxy.tamper = async (path) => {
      const m = /\/rollout\/metadata\/(\d+)\.targets\.json$/.exec(path);
      if (!m) return undefined;
      return deps.storage.getBytes('metadata', `rollout/${Number(m[1]) - 1}.targets.json`, 1 << 24);
    };
    await expectRefused(
      v,
      await v.agent.installOffer({ targetName: target, version: '1.0.0' }),
      'METADATA_INCONSISTENT',
    );
  });

  it('downgrade below the rollback index: refused (ROLLBACK_INDEX_TOO_LOW)', async () => {
    const v = await victim({ currentVersion: '0.5.0', rollbackIndex: 7 });
    await expectRefused(v, await v.agent.checkForUpdate(), 'ROLLBACK_INDEX_TOO_LOW');
  });

  it('a target only in the rollout repository (compromised rollout key): refused (TARGET_NOT_FOUND)', async () => {
    const v = await victim();
    const evil = 'attack/6.6.6/evil.bin';
    const custom = { version: '6.6.6', channel, hardwareIds: ['devkit-a'], rollbackIndex: 9 };
    await deps.repos.rollout.flat.publish((t: Targets) =>
      t.addTarget(
        targetFile({
          name: evil,
          length: 4,
          sha256: 'ab'.repeat(32),
          custom: {
            ...custom,
            rollout: { percent: 100, salt: 'x', paused: false, withdrawn: false },
          },
        }),
      ),
    );
    try {
      await expectRefused(v, await v.agent.checkForUpdate(), 'TARGET_NOT_FOUND');
    } finally {
      await deps.repos.rollout.flat.publish((t: Targets) => {
        delete t.targets[evil];
      });
    }
  });

  describe('against a partial rollout', () => {
    const half = 'attack-half';
    const halfTarget = `${half}/1.0.0/fw-${half}-1.0.0.bin`;
    const salt = `release-${half}-1.0.0`;
    const idWith = (inside: boolean) => {
      for (let i = 0; ; i++) if (rolloutBucket(salt, `half-${i}`) < 1000 === inside) return `half-${i}`;
    };
    before(async () => {
      await releaseAwaitingApproval(half, '1.0.0', { steps: '10,100', bake: '1h' });
      await approve(half, '1.0.0');
      await waitForStatus(await temporalClient(), { channel: half, version: '1.0.0' }, stepPublished(10));
    });

    const halfVictim = (id: string) => victim(undefined, id, half);

    it('rollout percent inflated by the API: a device outside the signed percent refuses (NOT_IN_ROLLOUT)', async () => {
      const v = await halfVictim(idWith(false));
      proxy.tamper = (path) =>
        path === '/v1/poll'
          ? Buffer.from(JSON.stringify({ offer: { targetName: halfTarget, version: '1.0.0' } }))
          : undefined;
      await expectRefused(v, await v.agent.checkForUpdate(), 'NOT_IN_ROLLOUT');
    });

    it('a poll response replayed from another device: refused (NOT_IN_ROLLOUT)', async () => {
      const inside = idWith(true);
      const recorded = await postJson('/v1/poll', {
        deviceId: inside,
        hardwareId: 'devkit-a',
        channel: half,
        currentVersion: '0.0.0',
      });
      const replay = Buffer.from(JSON.stringify(recorded.body));
      expect((JSON.parse(replay.toString()) as PollAnswer).offer).to.include({ version: '1.0.0' });
      const v = await halfVictim(idWith(false));
      proxy.tamper = (path) => (path === '/v1/poll' ? replay : undefined);
      await expectRefused(v, await v.agent.checkForUpdate(), 'NOT_IN_ROLLOUT');
    });

    it('a withdrawn release offered anyway: refused (RELEASE_WITHDRAWN)', async () => {
      const rolled = await ota('release', 'rollback', '1.0.0', '--channel', half, '--json');
      expect(rolled.code, rolled.stderr).to.equal(0);
      const v = await halfVictim(idWith(true));
      proxy.tamper = (path) =>
        path === '/v1/poll'
          ? Buffer.from(JSON.stringify({ offer: { targetName: halfTarget, version: '1.0.0' } }))
          : undefined;
      await expectRefused(v, await v.agent.checkForUpdate(), 'RELEASE_WITHDRAWN');
    });
  });

  it('path traversal in a target name: refused before anything is fetched (TARGET_NAME_INVALID)', async () => {
    const v = await victim();
    proxy.tamper = (path) =>
      path === '/v1/poll'
        ? Buffer.from(JSON.stringify({ offer: { targetName: '../../../../tmp/evil', version: '9.9.9' } }))
        : undefined;
    await expectRefused(v, await v.agent.checkForUpdate(), 'TARGET_NAME_INVALID');
  });
});
