import { readFile } from 'node:fs/promises';

import { createTransport, type Fetch, newKeyAndCsr } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import type { AuditRow, DeviceRecord } from '../../../common/adminApi';
import { Devices } from '../../../infra/devices';
import { FleetStore } from '../../../infra/fleetStore';
import { newToken, tokenHash } from '../../../infra/operators';
import { csrFor, rsaKey } from '../../csr';
import { rejectionOf } from '../../rejection';
import { adminApi, apiGet, testConfig } from '../helpers';
import { backends } from '../infra/backends';

/**
 * S-20: a leftover enrollment token must not take over an enrolled device (a second
 * enrollment would replace the first one's certificate), and the fleet CA must not sign a CSR
 * whose signature does not match its key. Over HTTPS against the live stack, then the store's
 * own statements on PGlite and PostgreSQL for the races HTTP cannot stage.
 */
const CHANNEL = 'takeover';
const HARDWARE = 'devkit-a';

interface Answer {
  status: number;
  code: string | undefined;
  certificate: string | undefined;
}

describe('enrollment takeover and CSR proof of possession (S-20)', () => {
  let caPem: string;
  let anonymous: Fetch;
  const url = () => testConfig().api.url;

  before(async () => {
    caPem = await readFile(testConfig().identity.fleetCaCert, 'utf8');
    anonymous = createTransport({ caPem });
  });

  async function admin<T>(method: string, path: string, body?: unknown): Promise<T> {
    const api = await adminApi();
    try {
      return await api.send<T>(method, path, body);
    } finally {
      await api.close();
    }
  }
  const issueToken = async (deviceId: string) =>
    (
      await admin<{ token: string }>('POST', '/v1/admin/devices/tokens', {
        deviceId,
        hardwareId: HARDWARE,
        channel: CHANNEL,
      })
    ).token;

  async function post(transport: Fetch, path: string, body: unknown): Promise<Answer> {
    const r = await transport(`${url()}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = (await r.json()) as { certificate?: string; error?: { code?: string } };
    return { status: r.status, code: json.error?.code, certificate: json.certificate };
  }

  /** An enrollment with a fresh key, as the SDK makes it; the key comes back for mutual TLS. */
  async function enrollWith(token: string, deviceId: string): Promise<Answer & { keyPem: string }> {
    const { keyPem, csrPem } = newKeyAndCsr(deviceId);
    return { ...(await post(anonymous, '/v1/enroll', { token, deviceId, csr: csrPem })), keyPem };
  }

  /** What a poll with this certificate answers (200: the certificate is the device's current one). */
  async function pollStatus(deviceId: string, certPem: string, keyPem: string): Promise<number> {
    const asDevice = createTransport({ caPem, certPem, keyPem });
    const r = await asDevice(`${url()}/v1/poll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ deviceId, hardwareId: HARDWARE, channel: CHANNEL, currentVersion: '0.0.1' }),
    });
    await r.arrayBuffer();
    return r.status;
  }

  const deviceRecord = (deviceId: string) => apiGet<DeviceRecord>(`/v1/admin/devices/${deviceId}`);

  describe('a leftover token of a pending device', () => {
    it("is ended by the next token: it is refused, the newer token enrolls, and the certificate stays the first enrollment's", async () => {
      const first = await issueToken('tk-two-tokens');
      const second = await issueToken('tk-two-tokens');
      const enrolled = await enrollWith(second, 'tk-two-tokens');
      expect(enrolled.status).to.equal(201);
      const serial = (await deviceRecord('tk-two-tokens')).certSerial;

      const takeover = await enrollWith(first, 'tk-two-tokens');
      expect([takeover.status, takeover.code]).to.deep.equal([403, 'ENROLLMENT_REFUSED']);
      expect(takeover.certificate).to.equal(undefined);
      expect((await deviceRecord('tk-two-tokens')).certSerial).to.equal(serial);
      expect(await pollStatus('tk-two-tokens', enrolled.certificate!, enrolled.keyPem)).to.equal(200);
    });

    it('cannot enroll even before the newer token is used', async () => {
      const first = await issueToken('tk-pending');
      await issueToken('tk-pending');
      const early = await enrollWith(first, 'tk-pending');
      expect([early.status, early.code]).to.deep.equal([403, 'ENROLLMENT_REFUSED']);
      expect((await apiGet<DeviceRecord[]>('/v1/admin/devices?prefix=tk-pending')).length).to.equal(0);
    });
  });

  describe('an enrolled device', () => {
    it('gets no new token (ALREADY_EXISTS) and its certificate keeps working', async () => {
      const enrolled = await enrollWith(await issueToken('tk-enrolled'), 'tk-enrolled');
      expect(enrolled.status).to.equal(201);
      const refused = await rejectionOf(issueToken('tk-enrolled'));
      expect(refused).to.have.property('code', 'ALREADY_EXISTS');
      expect(await pollStatus('tk-enrolled', enrolled.certificate!, enrolled.keyPem)).to.equal(200);
    });

    it('enrolls again only after `ota device revoke`, and then only the new certificate works', async () => {
      const before = await enrollWith(await issueToken('tk-revoked'), 'tk-revoked');
      expect(before.status).to.equal(201);
      await admin('POST', '/v1/admin/devices/tk-revoked/revoke', { reason: 'reflashed' });
      const after = await enrollWith(await issueToken('tk-revoked'), 'tk-revoked');
      expect(after.status).to.equal(201);
      expect((await deviceRecord('tk-revoked')).status).to.equal('enrolled');
      expect(await pollStatus('tk-revoked', before.certificate!, before.keyPem)).to.equal(403);
      expect(await pollStatus('tk-revoked', after.certificate!, after.keyPem)).to.equal(200);
    });
  });

  describe('proof of possession', () => {
    it('refuses a CSR signed by another key than the one it carries (CSR_INVALID) and issues no certificate', async () => {
      const victim = rsaKey();
      const attacker = rsaKey();
      const token = await issueToken('tk-pop');
      const r = await post(anonymous, '/v1/enroll', {
        token,
        deviceId: 'tk-pop',
        csr: csrFor(victim.publicPem, attacker.privatePem),
      });
      expect([r.status, r.code, r.certificate]).to.deep.equal([400, 'CSR_INVALID', undefined]);
      expect((await apiGet<DeviceRecord[]>('/v1/admin/devices?prefix=tk-pop')).length).to.equal(0);
      // The attempt spent the token (documented in S-20): the operator issues a new one.
      expect((await enrollWith(token, 'tk-pop')).code).to.equal('ENROLLMENT_REFUSED');
      expect((await enrollWith(await issueToken('tk-pop'), 'tk-pop')).status).to.equal(201);
    });

    it('refuses a garbage CSR (400 CSR_INVALID) and a weak key', async () => {
      const garbage = await post(anonymous, '/v1/enroll', {
        token: await issueToken('tk-garbage'),
        deviceId: 'tk-garbage',
        csr: 'not a certificate request',
      });
      expect([garbage.status, garbage.code]).to.deep.equal([400, 'CSR_INVALID']);
      const small = rsaKey(1024);
      const weak = await post(anonymous, '/v1/enroll', {
        token: await issueToken('tk-garbage'),
        deviceId: 'tk-garbage',
        csr: csrFor(small.publicPem, small.privatePem),
      });
      expect([weak.status, weak.code]).to.deep.equal([400, 'CSR_INVALID']);
      const huge = await post(anonymous, '/v1/enroll', {
        token: await issueToken('tk-garbage'),
        deviceId: 'tk-garbage',
        csr: 'x'.repeat(8193),
      });
      expect([huge.status, huge.code]).to.deep.equal([400, 'INVALID_INPUT']);
      expect((await apiGet<DeviceRecord[]>('/v1/admin/devices?prefix=tk-garbage')).length).to.equal(0);
    });

    it('refuses a renewal CSR signed by another key, and the current certificate keeps working', async () => {
      const enrolled = await enrollWith(await issueToken('tk-renew'), 'tk-renew');
      const asDevice = createTransport({ caPem, certPem: enrolled.certificate!, keyPem: enrolled.keyPem });
      const r = await post(asDevice, '/v1/devices/renew', {
        deviceId: 'tk-renew',
        csr: csrFor(rsaKey().publicPem, rsaKey().privatePem),
      });
      expect([r.status, r.code, r.certificate]).to.deep.equal([400, 'CSR_INVALID', undefined]);
      expect(await pollStatus('tk-renew', enrolled.certificate!, enrolled.keyPem)).to.equal(200);
    });
  });

  describe('the audit log', () => {
    it('holds every enrollment attempt: the device (or anonymous), the outcome and the code', async () => {
      const id = 'tk-audit';
      await enrollWith('enroll_no-such-token-at-all', id);
      const spent = await issueToken(id);
      await post(anonymous, '/v1/enroll', { token: spent, deviceId: id, csr: 'not a certificate request' });
      await enrollWith(spent, id);
      await post(anonymous, '/v1/enroll', { token: await issueToken(id), deviceId: id, csr: 'x'.repeat(8193) });
      const ok = await enrollWith(await issueToken(id), id);
      expect(ok.status).to.equal(201);

      const entries = (await apiGet<AuditRow[]>('/v1/admin/audit?action=device.enroll&limit=100'))
        .filter((e) => e.subject === id)
        .reverse();
      expect(entries.map((e) => [e.actor, e.action, e.outcome, e.detail?.split(':')[0]])).to.deep.equal([
        ['anonymous', 'device.enroll', 'refused', 'ENROLLMENT_REFUSED'],
        ['device:tk-audit', 'device.enroll', 'refused', 'CSR_INVALID'],
        ['anonymous', 'device.enroll', 'refused', 'ENROLLMENT_REFUSED'],
        ['anonymous', 'device.enroll', 'refused', 'INVALID_INPUT'],
        ['device:tk-audit', 'device.enroll', 'ok', `certificate ${(await deviceRecord(id)).certSerial}`],
      ]);
    });
  });
});

/**
 * The races the API cannot be made to lose on demand: a second outstanding token (issued by
 * another replica at the same moment as the first, so neither statement saw the other) and
 * two enrollments at once. Run on both engines; PostgreSQL runs them truly concurrently.
 */
for (const backend of backends(15438)) {
  describe(`enrollment in the fleet store on ${backend.name} (S-20)`, () => {
    let env: Awaited<ReturnType<(typeof backend)['open']>>;
    let store: FleetStore;
    let devices: Devices;
    const grant = (deviceId: string) => ({ deviceId, hardwareId: HARDWARE, channel: CHANNEL, groups: [], tags: {} });
    const cert = (serial: string) => ({ serial, notAfter: new Date(Date.now() + 86_400_000) });

    before(async () => {
      env = await backend.open();
      store = await FleetStore.open(env.fleet);
      devices = new Devices(store.sql);
    });
    after(async () => {
      await store?.close();
      await env?.done();
    });

    /** A valid token that `createToken` did not issue, so it ended nothing and nothing ended it. */
    async function racingToken(deviceId: string): Promise<string> {
      const token = newToken('enroll');
      await store.sql.query(
        `INSERT INTO enrollment_tokens (token_hash, device_id, hardware_id, channel, expires_at, created_by) VALUES ($1, $2, $3, $4, now() + interval '1 hour', 'replica-2')`,
        [tokenHash(token), deviceId, HARDWARE, CHANNEL],
      );
      return token;
    }
    const attempt = async (token: string, serial: string) =>
      devices.enroll(await devices.consumeToken(token), cert(serial), '1.0.0');
    const versionChanges = async (deviceId: string) =>
      (
        await store.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM version_changes WHERE device_id = $1', [
          deviceId,
        ])
      ).rows[0]!.n;

    it('ends the earlier token when a new one is issued', async () => {
      const first = await devices.createToken(grant('st-reissued'), 60_000, 'ops');
      const second = await devices.createToken(grant('st-reissued'), 60_000, 'ops');
      expect(await rejectionOf(devices.consumeToken(first.token))).to.have.property('code', 'ENROLLMENT_REFUSED');
      expect((await devices.consumeToken(second.token)).deviceId).to.equal('st-reissued');
    });

    it('ends every other outstanding token of the device when it enrolls', async () => {
      const issued = await devices.createToken(grant('st-ends'), 60_000, 'ops');
      const racing = await racingToken('st-ends');
      await attempt(racing, 'aa01');
      expect(await rejectionOf(devices.consumeToken(issued.token))).to.have.property('code', 'ENROLLMENT_REFUSED');
    });

    it('refuses an enrolled device even with a valid, unused token, and keeps its certificate and history', async () => {
      await attempt((await devices.createToken(grant('st-enrolled'), 60_000, 'ops')).token, 'aa02');
      const leftover = await racingToken('st-enrolled');
      expect(await rejectionOf(attempt(leftover, 'ee02'))).to.have.property('code', 'ENROLLMENT_REFUSED');
      expect(await devices.get('st-enrolled')).to.include({ status: 'enrolled', certSerial: 'aa02' });
      expect(await versionChanges('st-enrolled')).to.equal(1);
      expect(await rejectionOf(devices.createToken(grant('st-enrolled'), 60_000, 'ops'))).to.have.property(
        'code',
        'ALREADY_EXISTS',
      );
    });

    it('lets exactly one of two enrollments with two different tokens at the same moment win', async () => {
      const ids = Array.from({ length: 8 }, (_, i) => `st-race-${i}`);
      const tokens = await Promise.all(
        ids.map(
          async (id) => [(await devices.createToken(grant(id), 60_000, 'ops')).token, await racingToken(id)] as const,
        ),
      );
      const outcomes = await Promise.all(
        ids.map((id, i) =>
          Promise.allSettled([attempt(tokens[i]![0], `a${i}`), attempt(tokens[i]![1], `b${i}`)]).then((r) => ({
            id,
            i,
            r,
          })),
        ),
      );
      for (const { id, i, r } of outcomes) {
        const won = r.map((o) => o.status === 'fulfilled');
        expect(won.filter(Boolean), id).to.have.length(1);
        const lost = r.find((o) => o.status === 'rejected') as PromiseRejectedResult;
        expect(lost.reason, id).to.have.property('code', 'ENROLLMENT_REFUSED');
        expect((await devices.get(id))!.certSerial, id).to.equal(won[0] ? `a${i}` : `b${i}`);
        expect(await versionChanges(id), id).to.equal(1);
      }
    });

    it('enrolls a revoked device again, keeping its version history', async () => {
      await attempt((await devices.createToken(grant('st-back'), 60_000, 'ops')).token, 'aa03');
      await devices.revoke('st-back', { actor: 'test' });
      await attempt((await devices.createToken(grant('st-back'), 60_000, 'ops')).token, 'aa04');
      expect(await devices.get('st-back')).to.include({ status: 'enrolled', certSerial: 'aa04' });
      expect(await versionChanges('st-back')).to.equal(1);
    });
  });
}
