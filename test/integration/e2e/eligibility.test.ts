import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

import { type AttestationMeasurements, createEvidence, type DeviceAgent } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import type { AuditRow } from '../../../common/adminApi';
import { waitForStatus } from '../../../control/releases';
import { createManufacturer, type Manufacturer } from '../../fixtures/manufacturer';
import {
  approve,
  artifactFile,
  device,
  deviceFetch,
  type ErrorAnswer,
  ota,
  type PollAnswer,
  postJson,
  temporalClient,
  testConfig,
} from '../helpers';

const good: AttestationMeasurements = { bootState: 'verified', osVersion: '5.2.0', integrity: { 'dm-verity': true } };

describe('eligibility and attestation', () => {
  let maker: Manufacturer;

  before(async () => {
    maker = createManufacturer();
    // The API reads the manufacturer bundle on each attestation: installing it needs no restart.
    const file = testConfig().identity.manufacturerRoots!;
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, maker.roots.join('\n'));
  });

  async function release(channel: string, version: string, ...flags: string[]): Promise<void> {
    const file = await artifactFile(`fw-${channel}-${version}.bin`);
    const r = await ota(
      'release',
      'create',
      '--artifact',
      file,
      '--version',
      version,
      '--channel',
      channel,
      '--hardware',
      'devkit-a',
      '--steps',
      '100',
      '--bake',
      '0s',
      '--min-devices',
      '0',
      '--max-failure-rate',
      '1',
      '--rollback-index',
      '1',
      ...flags,
      '--json',
    );
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    await waitForStatus(await temporalClient(), { channel, version }, (s) => s.stage === 'approval');
    await approve(channel, version);
    await waitForStatus(await temporalClient(), { channel, version }, (s) => s.stage === 'stable');
  }

  const explain = async (deviceId: string, version: string) => {
    const r = await ota('device', 'explain', deviceId, version, '--json');
    expect(r.code, r.stderr).to.equal(0);
    return r.json as { eligible: boolean; checks: Array<{ check: string; ok: boolean; reason: string }> };
  };
  const failing = (e: Awaited<ReturnType<typeof explain>>) => e.checks.filter((c) => !c.ok).map((c) => c.check);

  describe('a release for one group, from a minimum source version', () => {
    const channel = 'targeted';
    let inLab: DeviceAgent;

    before(async () => {
      inLab = await device('lab-1', channel, {
        groups: ['lab'],
        initialState: { currentVersion: '1.2.0', rollbackIndex: 0 },
      });
      const office = await device('office-1', channel, {
        groups: ['office'],
        initialState: { currentVersion: '1.2.0', rollbackIndex: 0 },
      });
      const old = await device('lab-old', channel, {
        groups: ['lab'],
        initialState: { currentVersion: '0.9.0', rollbackIndex: 0 },
      });
      // Enrolled now (their groups come from their enrollment tokens).
      for (const d of [inLab, office, old]) await d.identity();
      await release(channel, '3.1.0', '--target-group', 'lab', '--min-source-version', '1.0.0');
    });

    it('is offered only to eligible devices, and `ota device explain` says why for every check', async () => {
      const pollAs = async (id: string, currentVersion: string) =>
        (await postJson<PollAnswer>('/v1/poll', { deviceId: id, hardwareId: 'devkit-a', channel, currentVersion })).body
          .offer;
      expect(await pollAs('lab-1', '1.2.0')).to.include({ version: '3.1.0' });
      expect(await pollAs('office-1', '1.2.0')).to.equal(null);
      expect(await pollAs('lab-old', '0.9.0')).to.equal(null);

      const office = await explain('office-1', '3.1.0');
      expect(office.eligible).to.equal(false);
      expect(failing(office)).to.deep.equal(['groups']);
      expect(office.checks.map((c) => c.check)).to.include.members([
        'identity',
        'enrollment',
        'attestation',
        'channel',
        'hardware',
        'buildCompatibility',
        'rollout',
      ]);
      expect(office.checks.every((c) => c.reason.length > 0)).to.equal(true);
      expect(failing(await explain('lab-old', '3.1.0'))).to.deep.equal(['buildCompatibility']);
      expect((await explain('lab-1', '3.1.0')).eligible).to.equal(true);
      const human = await ota('device', 'explain', 'office-1', '3.1.0');
      expect(human.stdout)
        .to.match(/NOT ELIGIBLE/)
        .and.match(/FAIL\s+groups/);
    });

    it('follows `ota device label`: a device moved into the group is offered the release on its next poll', async () => {
      const labelled = await ota(
        'device',
        'label',
        'office-1',
        '--group',
        'lab',
        '--group',
        'office',
        '--tag',
        'site=berlin',
        '--json',
      );
      expect(labelled.code, labelled.stderr).to.equal(0);
      expect(labelled.json).to.deep.include({ groups: ['lab', 'office'], tags: { site: 'berlin' } });
      expect((await explain('office-1', '3.1.0')).eligible).to.equal(true);
      const bad = await ota('device', 'label', 'office-1', '--group', 'no spaces allowed', '--json');
      expect((bad.json as ErrorAnswer).error.code).to.equal('INVALID_INPUT');
      const audit = await ota('audit', '--action', 'device.label', '--json');
      expect((audit.json as AuditRow[])[0]).to.include({ subject: 'office-1', outcome: 'ok' });
    });

    it('installs on the eligible device, which checks the signed minimum source version itself', async () => {
      expect(await inLab.checkForUpdate()).to.include({ status: 'installed', version: '3.1.0' });
      // A device below the signed minimum refuses even when a hostile API offers it.
      const old = await device('lab-older', channel, {
        groups: ['lab'],
        initialState: { currentVersion: '0.9.0', rollbackIndex: 0 },
      });
      expect(
        await old.installOffer({ targetName: `${channel}/3.1.0/fw-${channel}-3.1.0.bin`, version: '3.1.0' }),
      ).to.include({ status: 'refused', code: 'SOURCE_VERSION_TOO_OLD' });
    });

    it('refuses a release spec with malformed targeting before anything starts', async () => {
      const file = await artifactFile('bad-targeting.bin');
      const base = [
        'release',
        'create',
        '--artifact',
        file,
        '--version',
        '9.0.0',
        '--channel',
        channel,
        '--hardware',
        'devkit-a',
        '--json',
      ];
      for (const extra of [
        ['--min-source-version', 'old'],
        ['--target-group', 'has space'],
        ['--target-tag', 'novalue'],
      ]) {
        const r = await ota(...base, ...extra);
        expect(r.code, extra.join(' ')).to.equal(2);
        expect((r.json as ErrorAnswer).error.code).to.equal('INVALID_INPUT');
      }
    });
  });

  describe('an attestation-required release', () => {
    const channel = 'attested';

    before(async () => {
      await release(channel, '1.0.0', '--attestation-required');
    });

    async function attest(
      deviceId: string,
      evidence: (nonce: string) => unknown,
      reuse?: string,
    ): Promise<{ status: number; nonce: string; body: ErrorAnswer }> {
      const fetch = await deviceFetch(deviceId, channel);
      const post = async <T>(path: string, body: unknown) => {
        const res = await fetch(`${testConfig().api.url}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        return { status: res.status, body: (await res.json()) as T };
      };
      const nonce = reuse ?? (await post<{ nonce: string }>('/v1/attestation/nonce', {})).body.nonce;
      // The tests read the answer's body only when the evidence was refused.
      return { ...(await post<ErrorAnswer>('/v1/attestation', evidence(nonce))), nonce };
    }

    it('is offered only after fresh, passing evidence; the device then installs it', async () => {
      const key = maker.issueDevice('att-1');
      const agent = await device('att-1', channel);
      expect(await agent.checkForUpdate()).to.include({ status: 'up-to-date' });
      expect(failing(await explain('att-1', '1.0.0'))).to.deep.equal(['attestation']);
      const withKey = await device('att-1', channel, { attestation: { key, measure: () => good } });
      expect(await withKey.checkForUpdate()).to.include({ status: 'installed', version: '1.0.0' });
      expect((await explain('att-1', '1.0.0')).checks.find((c) => c.check === 'attestation')).to.include({ ok: true });
    });

    it('refuses a replayed nonce, an expired one, a chain from another CA and failing measurements', async () => {
      const key = maker.issueDevice('att-2');
      const sign =
        (measurements: AttestationMeasurements, k = key) =>
        (nonce: string) =>
          createEvidence(k, { deviceId: 'att-2', nonce, measurements });
      const first = await attest('att-2', sign(good));
      expect(first.status).to.equal(200);
      const replayed = await attest('att-2', sign(good), first.nonce);
      expect([replayed.status, replayed.body.error.code]).to.deep.equal([403, 'ATTESTATION_NONCE_INVALID']);

      const fetch = await deviceFetch('att-2', channel);
      const stale = (await (
        await fetch(`${testConfig().api.url}/v1/attestation/nonce`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{}',
        })
      ).json()) as { nonce: string };
      await new Promise((r) => setTimeout(r, 3500)); // OTA_ATTESTATION_NONCE_MS is 3 s in tests
      const expired = await attest('att-2', sign(good), stale.nonce);
      expect([expired.status, expired.body.error.code]).to.deep.equal([403, 'ATTESTATION_NONCE_INVALID']);

      const impostor = createManufacturer('Enigm Test Manufacturer').issueDevice('att-2');
      const wrongChain = await attest('att-2', sign(good, impostor));
      expect([wrongChain.status, wrongChain.body.error.code]).to.deep.equal([403, 'ATTESTATION_CHAIN_INVALID']);

      const rooted = await attest('att-2', sign({ ...good, bootState: 'unverified' }));
      expect([rooted.status, rooted.body.error.code]).to.deep.equal([403, 'ATTESTATION_MEASUREMENTS_FAILED']);
      // The failed evidence replaces the earlier pass: the release is no longer offered.
      expect(failing(await explain('att-2', '1.0.0'))).to.deep.equal(['attestation']);
      expect(
        (
          await postJson<PollAnswer>('/v1/poll', {
            deviceId: 'att-2',
            hardwareId: 'devkit-a',
            channel,
            currentVersion: '0.0.0',
          })
        ).body.offer,
      ).to.equal(null);
    });

    it("refuses evidence signed for another device's id", async () => {
      const other = maker.issueDevice('att-3');
      const r = await attest('att-4', (nonce) =>
        createEvidence(other, { deviceId: 'att-3', nonce, measurements: good }),
      );
      expect(r.status).to.equal(403);
      expect(r.body.error.code).to.match(/^ATTESTATION_/);
    });
  });
});
