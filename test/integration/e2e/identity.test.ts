import { readFile } from 'node:fs/promises';

import { createTransport, type DeviceIdentity, enroll } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import type { AuditRow, DeviceDetail, DeviceRecord } from '../../../common/adminApi';
import type { AdminApiClient } from '../../../infra/adminApiClient';
import { rejectionOf } from '../../rejection';
import {
  adminApi,
  apiGet,
  device,
  deviceFetch,
  type ErrorAnswer,
  operatorToken,
  ota,
  otaAs,
  postJson,
  refusalOf,
  signedReport,
  testConfig,
} from '../helpers';

const poll = (deviceId: string) => ({ deviceId, hardwareId: 'devkit-a', channel: 'identity', currentVersion: '0.0.1' });

describe('device identity and operators', () => {
  let caPem: string;
  const url = () => testConfig().api.url;

  before(async () => {
    caPem = await readFile(testConfig().identity.fleetCaCert, 'utf8');
  });

  async function token(deviceId: string, ttl?: string): Promise<string> {
    const r = await ota(
      'device',
      'token',
      deviceId,
      '--hardware',
      'devkit-a',
      '--channel',
      'identity',
      '--group',
      'lab',
      '--tag',
      'site=berlin',
      ...(ttl ? ['--ttl', ttl] : []),
      '--json',
    );
    expect(r.code, r.stderr).to.equal(0);
    return (r.json as { token: string }).token;
  }
  const enrollWith = (t: string, deviceId: string) =>
    enroll(
      { apiUrl: url(), transport: createTransport({ caPem }) },
      { token: t, deviceId, currentVersion: '0.0.1' },
      caPem,
    );

  describe('enrollment', () => {
    it('trades a one-time token for a certificate naming the device; the token cannot be used twice', async () => {
      const t = await token('id-once');
      const identity = await enrollWith(t, 'id-once');
      expect(identity.certPem).to.match(/BEGIN CERTIFICATE/);
      const again = await rejectionOf(enrollWith(t, 'id-once'));
      expect(again).to.have.property('code', 'ENROLLMENT_REFUSED');
      expect(again.message).to.match(/already used/);
      const shown = await apiGet<DeviceRecord>(`/v1/admin/devices/id-once`);
      expect(shown).to.include({ status: 'enrolled', hardwareId: 'devkit-a', channel: 'identity' });
      expect(shown.groups).to.deep.equal(['lab']);
      expect(shown.tags).to.deep.equal({ site: 'berlin' });
    });

    it('lists devices by group', async () => {
      const inLab = await ota('device', 'list', '--group', 'lab', '--prefix', 'id-', '--json');
      expect(inLab.code, inLab.stderr).to.equal(0);
      expect((inLab.json as Array<{ deviceId: string; groups: string[] }>).map((d) => d.deviceId)).to.deep.equal([
        'id-once',
      ]);
      expect((await ota('device', 'list', '--group', 'nowhere', '--json')).json).to.deep.equal([]);
    });

    it('refuses an expired token, an unknown one, and a token for another device id', async () => {
      const short = await token('id-late', '1s');
      await new Promise((r) => setTimeout(r, 1500));
      expect((await rejectionOf(enrollWith(short, 'id-late'))).message).to.match(/expired/);
      expect((await rejectionOf(enrollWith('enroll_not-a-real-token-at-all', 'id-late'))).message).to.match(/unknown/);
      const other = await token('id-other');
      const stolen = await rejectionOf(enrollWith(other, 'id-thief'));
      expect(stolen).to.have.property('code', 'ENROLLMENT_REFUSED');
      expect((await apiGet<DeviceRecord[]>(`/v1/admin/devices?prefix=id-thief`)).length).to.equal(0);
    });

    it('refuses a token for a device that is enrolled already (revoke first)', async () => {
      await token('id-twice');
      const second = await ota(
        'device',
        'token',
        'id-once',
        '--hardware',
        'devkit-a',
        '--channel',
        'identity',
        '--json',
      );
      expect((second.json as ErrorAnswer).error.code).to.equal('ALREADY_EXISTS');
    });
  });

  describe('device requests', () => {
    it('need a certificate from the fleet CA', async () => {
      const anonymous = createTransport({ caPem });
      const r = await anonymous(`${url()}/v1/poll`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(poll('nobody')),
      });
      expect(r.status).to.equal(401);
      expect((await refusalOf(r)).code).to.equal('UNAUTHENTICATED');
    });

    it('may only speak for their own device: polls and reports for another id are refused', async () => {
      const asA = await deviceFetch('id-a', 'identity');
      await deviceFetch('id-b', 'identity');
      for (const [path, body] of [
        ['/v1/poll', poll('id-b')],
        [
          '/v1/reports',
          { deviceId: 'id-b', version: '9.9.9', outcome: 'installed', health: 'healthy', targetName: 'x/9.9.9/fw.bin' },
        ],
      ] as const) {
        const r = await asA(`${url()}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        expect(r.status, path).to.equal(403);
        expect((await refusalOf(r)).code).to.equal('DEVICE_MISMATCH');
      }
      expect((await apiGet<DeviceDetail>(`/v1/admin/devices/id-b`)).reports).to.deep.equal([]);
    });

    it('count a retried report once (same report id)', async () => {
      await deviceFetch('id-retry', 'identity');
      const report = await signedReport({
        deviceId: 'id-retry',
        reportId: 'retry-0000001',
        version: '1.0.0',
        outcome: 'installed',
        health: 'healthy',
        targetName: 'identity/1.0.0/fw.bin',
      });
      const first = await postJson<{ duplicate: boolean }>('/v1/reports', report);
      const second = await postJson<{ duplicate: boolean }>('/v1/reports', report);
      expect([first.status, second.status]).to.deep.equal([202, 202]);
      expect([first.body.duplicate, second.body.duplicate]).to.deep.equal([false, true]);
      expect((await apiGet<DeviceDetail>(`/v1/admin/devices/id-retry`)).reports).to.have.length(1);
      expect(await apiGet(`/v1/fleet/targets/stats?name=${encodeURIComponent(report.targetName)}`)).to.include({
        devices: 1,
        healthy: 1,
      });
    });

    it('stop working on the very next request after `ota device revoke`, on the same connection', async () => {
      const asC = await deviceFetch('id-revoked', 'identity');
      const send = () =>
        asC(`${url()}/v1/poll`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(poll('id-revoked')),
        });
      expect((await send()).status).to.equal(200);
      const revoked = await ota('device', 'revoke', 'id-revoked', '--reason', 'stolen', '--json');
      expect(revoked.code, revoked.stderr).to.equal(0);
      expect((revoked.json as DeviceRecord).status).to.equal('revoked');
      const after = await send();
      expect(after.status).to.equal(403);
      expect((await refusalOf(after)).code).to.equal('DEVICE_REVOKED');
    });

    it('the SDK renews its certificate before it expires, and the old one stops working', async () => {
      // A clock 80 days on: less than a third of the 90-day certificate is left.
      const agent = await device('id-renew', 'identity');
      const before = (await agent.identity()) as DeviceIdentity;
      const later = await device('id-renew', 'identity', { now: () => new Date(Date.now() + 80 * 86_400_000) });
      await later.checkForUpdate();
      const after = (await later.identity()) as DeviceIdentity;
      expect(after.certPem).to.not.equal(before.certPem);
      const old = createTransport(before);
      const r = await old(`${url()}/v1/poll`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(poll('id-renew')),
      });
      expect(r.status).to.equal(403);
      const fresh = createTransport(after);
      const ok = await fresh(`${url()}/v1/poll`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(poll('id-renew')),
      });
      expect(ok.status).to.equal(200);
    });
  });

  describe('operators', () => {
    it('are authenticated: no token or a revoked token is refused', async () => {
      const as = async <T>(t: string, fn: (api: AdminApiClient) => Promise<T>): Promise<T> => {
        const api = await adminApi(t);
        try {
          return await fn(api);
        } finally {
          await api.close();
        }
      };
      expect(await rejectionOf(as('', (api) => api.get('/v1/admin/whoami')))).to.have.property(
        'code',
        'UNAUTHENTICATED',
      );
      const t = await operatorToken('short-lived', ['viewer']);
      expect(await as(t, (api) => api.get('/v1/admin/whoami'))).to.deep.equal({
        name: 'short-lived',
        roles: ['viewer'],
      });
      await as(await operatorToken('second-admin', ['admin']), (api) =>
        api.send('POST', '/v1/admin/operators/short-lived/revoke', { reason: 'left the team' }),
      );
      expect(await rejectionOf(as(t, (api) => api.get('/v1/admin/whoami')))).to.have.property(
        'code',
        'UNAUTHENTICATED',
      );
    });

    it('are limited to their role, and every refused change is in the audit log (reads are not audited)', async () => {
      const since = (await apiGet<AuditRow[]>('/v1/admin/audit?limit=1'))[0]?.id ?? 0;
      await operatorToken('vera', ['viewer']);
      await operatorToken('otto', ['operator']);
      await operatorToken('rita', ['release-owner']);
      const viewerList = await otaAs('vera', 'device', 'list', '--prefix', 'id-', '--json');
      expect(viewerList.code).to.equal(0);
      const tries: Array<[string, string[]]> = [
        ['vera', ['device', 'revoke', 'id-a', '--json']],
        ['vera', ['release', 'pause', '1.0.0', '--channel', 'identity', '--json']],
        ['otto', ['release', 'approve', '1.0.0', '--channel', 'identity', '--json']],
        ['rita', ['device', 'revoke', 'id-a', '--json']],
        ['rita', ['operator', 'add', 'mallory', '--role', 'admin', '--json']],
        ['otto', ['operator', 'list', '--json']],
      ];
      for (const [who, args] of tries) {
        const r = await otaAs(who, ...args);
        expect((r.json as Partial<ErrorAnswer> | undefined)?.error?.code, `${who}: ${args.join(' ')}`).to.equal(
          'FORBIDDEN',
        );
        expect(r.code).to.equal(1);
      }
      // One refused entry per refused change, by its operator; otto's `operator list` is a read.
      const refused = (await apiGet<AuditRow[]>('/v1/admin/audit?limit=50')).filter(
        (e) => e.id > since && e.outcome === 'refused',
      );
      expect(refused.map((e) => e.actor).sort()).to.deep.equal(['otto', 'rita', 'rita', 'vera', 'vera']);
      expect((await apiGet<DeviceDetail>(`/v1/admin/devices/id-a`)).status).to.equal('enrolled');
    });

    it('record who did what, to what, when and why; `ota audit` reads it', async () => {
      const r = await ota('audit', '--action', 'device.revoke', '--json');
      expect(r.code).to.equal(0);
      const entry = (r.json as AuditRow[]).find((e) => e.subject === 'id-revoked')!;
      expect(entry).to.include({ actor: 'ops', action: 'device.revoke', reason: 'stolen', outcome: 'ok' });
      expect(Date.parse(entry.at)).to.be.greaterThan(Date.now() - 10 * 60_000);
      const human = await ota('audit', '--actor', 'ops', '--limit', '5');
      expect(human.stdout).to.match(/ops\s+device\.revoke\s+id-revoked\s+ok\s+"stolen"/);
    });
  });
});
