import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from 'node:tls';

import { DeviceApiClient, type InstallReport } from '@enigm-ota/client-sdk';
import { expect } from 'chai';
import { Agent, fetch } from 'undici';

import type { AuditRow, DeviceDetail, OperatorRow } from '../../../common/adminApi';
import type { ServerErrorCode } from '../../../common/errors';
import { releaseStatus } from '../../../control/releases';
import { stackToken, TEST_PROFILE } from '../../../scripts/lib/stack';
import { waitFor } from '../../wait';
import {
  deviceFetch,
  operatorToken,
  releaseAwaitingApproval,
  signedReport,
  temporalClient,
  testConfig,
} from '../helpers';

/**
 * S-15, S-18: text the fleet store cannot hold (U+0000, lone
 * surrogates) is refused at the API's edge with 400 INVALID_INPUT wherever it comes in (path,
 * query, body, install report), never 500; a refused change does not happen and leaves no
 * "done" audit entry; every refusal is a 4xx with its code; after each the API is healthy
 * and its log is JSON lines only. Names used only here: devices and operators 'us-*',
 * channel 'untrusted'.
 */

interface Answer {
  status: number;
  code: string | undefined;
  body: Record<string, unknown> & { error?: { code?: string } };
}

const NUL = '\u0000';
const LONE = '\uD800';
const url = () => testConfig().api.url;
const apiLog = () => join(testConfig().home, 'log', 'api.log');
let agent: Agent;
let caPem: string;
let ops: string;
let admin: string;
/** Where the API log stood when this file began: only later lines are this file's. */
let logStart = 0;

async function call(
  path: string,
  opts: { token?: string; body?: unknown; raw?: string; method?: string } = {},
): Promise<Answer> {
  const body = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
  const headers: Record<string, string> = { authorization: `Bearer ${opts.token ?? ops}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${url()}${path}`, {
    method: opts.method ?? (body === undefined ? 'GET' : 'POST'),
    headers,
    body,
    dispatcher: agent,
  });
  const text = await res.text();
  const json = JSON.parse(text) as Answer['body'];
  return { status: res.status, code: json.error?.code, body: json };
}

async function expectHealthy(after: string): Promise<void> {
  const health = await fetch(`${url()}/healthz`, { dispatcher: agent });
  expect(health.status, `healthz after ${after}`).to.equal(200);
  await health.text();
}

/** The refusal has its status and code, and the API still answers its health check. */
async function expectRefused(what: string, a: Answer, status: number, code: ServerErrorCode): Promise<void> {
  expect({ status: a.status, code: a.code }, `${what}: ${JSON.stringify(a.body)}`).to.deep.equal({ status, code });
  await expectHealthy(what);
}

/** A device's install report over its mutual-TLS connection, signed by the device. */
async function report(deviceId: string, body: InstallReport): Promise<Answer> {
  const send = await deviceFetch(deviceId);
  const res = await send(`${url()}/v1/reports`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(await signedReport(body)),
  });
  const json = (await res.json()) as Answer['body'];
  return { status: res.status, code: json.error?.code, body: json };
}

/** The audit entries about one subject (a path, while the handler has not named it; a device id after). */
async function auditOf(subject: string): Promise<AuditRow[]> {
  const rows = (await call('/v1/admin/audit?limit=200')).body as unknown as AuditRow[];
  return rows.filter((r) => r.subject === subject);
}

describe('untrusted strings at the API edge (S-15, S-18)', () => {
  before(async function () {
    this.timeout(120_000);
    logStart = (await stat(apiLog())).size;
    caPem = await readFile(testConfig().identity.fleetCaCert, 'utf8');
    agent = new Agent({ connect: { ca: caPem } });
    ops = process.env['OTA_TOKEN']!;
    admin = await stackToken(TEST_PROFILE, 'admin');
  });

  after(async () => {
    await agent?.close();
  });

  describe('a NUL in any untrusted string is 400 INVALID_INPUT, never 500', () => {
    it('in a device id in the path (reads and changes)', async () => {
      await expectRefused('GET a device', await call(`/v1/admin/devices/us-dev%00x`), 400, 'INVALID_INPUT');
      await expectRefused(
        'explain a device',
        await call(`/v1/admin/devices/us-dev%00x/explain?version=1.0.0`),
        400,
        'INVALID_INPUT',
      );
      await expectRefused(
        'revoke a device',
        await call(`/v1/admin/devices/us-dev%00x/revoke`, { body: {} }),
        400,
        'INVALID_INPUT',
      );
      await expectRefused(
        'label a device',
        await call(`/v1/admin/devices/us-dev%00x/labels`, { body: { groups: [], tags: {} } }),
        400,
        'INVALID_INPUT',
      );
    });

    it('in an operator name, in the body or the path, and no operator is made', async () => {
      await expectRefused(
        'create an operator',
        await call('/v1/admin/operators', { token: admin, body: { name: `us-op${NUL}`, roles: ['viewer'] } }),
        400,
        'INVALID_INPUT',
      );
      await expectRefused(
        'revoke an operator',
        await call(`/v1/admin/operators/us-op%00/revoke`, { token: admin, body: {} }),
        400,
        'INVALID_INPUT',
      );
      const operators = (await call('/v1/admin/operators', { token: admin })).body as unknown as OperatorRow[];
      expect(operators.filter((o) => o.name.startsWith('us-op'))).to.deep.equal([]);
    });

    it('in a query value, also a repeated one (/v1/fleet/summary?prefix=, device list, audit filters)', async () => {
      for (const path of [
        '/v1/fleet/summary?prefix=%00',
        '/v1/fleet/summary?prefix=us-&prefix=%00',
        '/v1/admin/devices?prefix=us%00',
        '/v1/admin/audit?actor=%00',
        '/v1/fleet/targets/stats?name=a%00b',
      ]) {
        await expectRefused(path, await call(path), 400, 'INVALID_INPUT');
      }
    });

    it('in a key of a body (device tags)', async () => {
      await deviceFetch('us-labelled');
      await expectRefused(
        'a tag key',
        await call('/v1/admin/devices/us-labelled/labels', { body: { groups: [], tags: { [`k${NUL}`]: 'v' } } }),
        400,
        'INVALID_INPUT',
      );
    });

    it('in a header: Node refuses the request (400) before the API sees it, and the API stays up', async () => {
      const answer = await new Promise<string>((resolve, reject) => {
        const u = new URL(url());
        const socket = connect({ host: u.hostname, port: Number(u.port), ca: caPem }, () => {
          socket.end(`GET /healthz HTTP/1.1\r\nHost: ${u.host}\r\nX-Request-Id: a${NUL}b\r\nConnection: close\r\n\r\n`);
        });
        let text = '';
        socket.setEncoding('utf8');
        socket.on('data', (d: string) => (text += d));
        socket.on('end', () => resolve(text));
        // Node may close the connection right after its 400, before the client has read it.
        socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? resolve(text) : reject(err)));
      });
      const status = answer.split('\r\n')[0] ?? '';
      expect(status === '' || /^HTTP\/1\.1 400 /.test(status), `answered ${JSON.stringify(status)}`).to.equal(true);
      await expectHealthy('a NUL in a header');
    });
  });

  describe('install reports', () => {
    const base = {
      deviceId: 'us-reporter',
      version: '1.0.0',
      outcome: 'failed',
      errorCode: 'INSTALL_FAILED',
    } satisfies Partial<InstallReport>;
    const reports = async () => ((await call('/v1/admin/devices/us-reporter')).body as unknown as DeviceDetail).reports;

    it('refuses a report with a NUL or a lone surrogate in any field with 400 INVALID_INPUT and stores nothing', async () => {
      await expectRefused(
        'NUL in message',
        await report('us-reporter', { ...base, reportId: 'us-report-0001', message: `disk${NUL}error` }),
        400,
        'INVALID_INPUT',
      );
      await expectRefused(
        'NUL in targetName',
        await report('us-reporter', { ...base, reportId: 'us-report-0002', targetName: `x${NUL}` }),
        400,
        'INVALID_INPUT',
      );
      // JSON.stringify writes a lone surrogate as the escape \ud800, which JSON.parse turns back into one.
      await expectRefused(
        'lone surrogate in message',
        await report('us-reporter', { ...base, reportId: 'us-report-0003', message: `bad ${LONE} text` }),
        400,
        'INVALID_INPUT',
      );
      expect(await reports()).to.deep.equal([]);
    });

    it('stores the same report without the NUL (the device learned the code and can resend)', async () => {
      const stored = await report('us-reporter', { ...base, reportId: 'us-report-0001', message: 'disk error' });
      expect(stored.status, JSON.stringify(stored.body)).to.equal(202);
      expect((await reports()).map((r) => r.message)).to.deep.equal(['disk error']);
    });

    it('the SDK strips what the server cannot store before sending, so its report is not lost', async () => {
      const client = new DeviceApiClient({
        baseUrl: url(),
        limits: { maxApiResponseBytes: 64 * 1024, fetchTimeoutMs: 30_000 },
        transport: await deviceFetch('us-sdk-reporter'),
      });
      await client.report(
        await signedReport({
          deviceId: 'us-sdk-reporter',
          reportId: 'us-sdk-report-1',
          version: '1.0.0',
          outcome: 'failed',
          errorCode: 'INSTALL_FAILED',
          message: `flash${NUL} failed ${LONE}`,
        }),
      );
      const detail = (await call('/v1/admin/devices/us-sdk-reporter')).body as unknown as DeviceDetail;
      expect(detail.reports.map((r) => r.message)).to.deep.equal(['flash failed \uFFFD']);
    });
  });

  describe('a change refused for its input does not happen, and the audit log says so', () => {
    it('a device revoke whose reason holds a NUL: 400, the device stays enrolled and can poll, no "done" audit entry', async () => {
      const send = await deviceFetch('us-victim');
      await expectRefused(
        'revoke with a NUL reason',
        await call('/v1/admin/devices/us-victim/revoke', { body: { reason: `stolen${NUL}` } }),
        400,
        'INVALID_INPUT',
      );
      const device = (await call('/v1/admin/devices/us-victim')).body as unknown as DeviceDetail;
      expect(device.status).to.equal('enrolled');
      const poll = await send(`${url()}/v1/poll`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          deviceId: 'us-victim',
          hardwareId: 'devkit-a',
          channel: 'raw',
          currentVersion: '0.0.0',
        }),
      });
      expect(poll.status).to.equal(200);
      const entries = await waitFor('the entry completed', async () => {
        const rows = await auditOf('/v1/admin/devices/us-victim/revoke');
        return rows.length > 0 && rows.every((r) => r.outcome !== 'pending') && rows;
      });
      expect(entries.map((r) => ({ action: r.action, outcome: r.outcome, detail: r.detail }))).to.deep.equal([
        { action: 'POST /v1/admin/devices/:id/revoke', outcome: 'failed', detail: 'HTTP 400' },
      ]);
      expect((await auditOf('us-victim')).filter((r) => r.action === 'device.revoke')).to.deep.equal([]);
    });

    it("an operator revoke whose reason holds a NUL: 400, the operator's token still works", async () => {
      const token = await operatorToken('us-keep', ['viewer']);
      await expectRefused(
        'revoke with a NUL reason',
        await call('/v1/admin/operators/us-keep/revoke', { token: admin, body: { reason: `left${NUL}` } }),
        400,
        'INVALID_INPUT',
      );
      expect((await call('/v1/admin/whoami', { token })).body).to.include({ name: 'us-keep' });
    });
  });

  describe('approvals and other refusals: every refusal is a 4xx with its code', function () {
    this.timeout(300_000);
    const path = '/v1/admin/releases/untrusted/1.0.0';

    before(async () => {
      await releaseAwaitingApproval('untrusted', '1.0.0', { as: 'us-creator' });
    });
    after(async () => {
      await call(`${path}/abort`, { body: { reason: 'end of untrustedStrings tests' } });
    });

    it('an approval whose comment holds a NUL is 400 and approves nothing', async () => {
      const approver = await operatorToken('us-approver');
      await expectRefused(
        'approve with a NUL comment',
        await call(`${path}/approve`, { token: approver, body: { comment: `fine${NUL}` } }),
        400,
        'INVALID_INPUT',
      );
      const s = await releaseStatus(await temporalClient(), { channel: 'untrusted', version: '1.0.0' });
      expect(s).to.include({ stage: 'approval', awaitingApproval: true });
      expect(s.approvals).to.deep.equal([]);
    });

    it('the creator approving their own release is 403 APPROVAL_REFUSED, not 500 (also in api/adminRefusals.test.ts)', async () => {
      await expectRefused(
        'the creator approving',
        await call(`${path}/approve`, { token: await operatorToken('us-creator'), body: { comment: 'mine' } }),
        403,
        'APPROVAL_REFUSED',
      );
      expect(
        (await releaseStatus(await temporalClient(), { channel: 'untrusted', version: '1.0.0' })).approvals,
      ).to.deep.equal([]);
    });
  });

  // Last (mocha runs a describe's own tests before its nested ones).
  describe('afterwards', () => {
    it('the API log holds only JSON lines, no 5xx answer and no error', async () => {
      const text = (await readFile(apiLog())).subarray(logStart).toString('utf8');
      const lines = text.split('\n').filter((l) => l.length > 0);
      expect(lines).to.not.have.lengthOf(0);
      for (const line of lines) {
        let entry: { status?: number; level?: string };
        try {
          entry = JSON.parse(line) as { status?: number; level?: string };
        } catch {
          expect.fail(`not a JSON line in ${apiLog()}: ${line.slice(0, 200)}`);
        }
        expect(entry.status ?? 0, line.slice(0, 300)).to.be.below(500);
        expect(entry.level, line.slice(0, 300)).to.not.be.oneOf(['error', 'fatal']);
      }
      expect(lines.some((l) => l.includes('"errorCode":"INVALID_INPUT"'))).to.equal(true);
    });
  });
});
