import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';

import { createTransport, type FetchAnswer } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import type { ReleaseStatus } from '../../../common/release';
import { RELEASE_WORKFLOW } from '../../../common/temporalNames';
import { waitForStatus } from '../../../control/releases';
import { ProcessManager } from '../../../scripts/lib/processes';
import { TEST_PROFILE } from '../../../scripts/lib/stack';
import { waitFor } from '../../wait';
import {
  approve,
  deviceFetch,
  type PollAnswer,
  refusalOf,
  releaseAwaitingApproval,
  signedReport,
  temporalClient,
  testConfig,
} from '../helpers';

type Labels = Record<string, string>;

/** Sums the samples of one metric whose labels include `labels` (Prometheus text format). */
function sample(text: string, name: string, labels: Labels = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have: Labels = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have[l[1]!] = l[2]!;
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

/** The API's /metrics needs an operator token (TLS, fleet CA); the worker's is plain HTTP on loopback. */
async function metricsText(url: string, token?: string): Promise<string> {
  const fetch = url.startsWith('https:')
    ? createTransport({ caPem: await readFile(testConfig().identity.fleetCaCert, 'utf8') })
    : globalThis.fetch;
  const res = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  expect(res.status, url).to.equal(200);
  expect(res.headers.get('content-type')).to.match(/^text\/plain/);
  return res.text();
}

const apiMetrics = () => metricsText(`${testConfig().api.url}/metrics`, process.env['OTA_TOKEN']);
const workerMetrics = () => metricsText(`http://127.0.0.1:${testConfig().observability.workerMetrics.port}/metrics`);

/** The API's JSON log line for a request id; the line is written when the response closes, just after the client has it. */
async function apiLogLine(requestId: string): Promise<Record<string, unknown> | undefined> {
  const file = new ProcessManager(TEST_PROFILE.home).logFile('api');
  return waitFor(
    `the API log line of ${requestId}`,
    async () => {
      for (const line of (await readFile(file, 'utf8')).split('\n')) {
        if (!line.includes(requestId)) continue;
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry['requestId'] === requestId) return entry;
      }
      return undefined;
    },
    { timeoutMs: 2000, intervalMs: 50 },
  );
}

/**
 * Requests of this test, each under its own x-request-id. The API writes a request's log
 * line right after recording its metrics, when the response closes (just after the client
 * has it); `settled()` waits for those lines, so the next scrape includes every request.
 */
const sent: string[] = [];
/** As a device (mutual TLS): the one a body names, else a reader device. */
async function call(
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
  as = 'obs-reader',
): Promise<FetchAnswer> {
  const id = `obs-${randomBytes(8).toString('hex')}`;
  sent.push(id);
  const fetch = await deviceFetch(as, 'obs');
  return fetch(`${testConfig().api.url}${path}`, { ...init, headers: { 'x-request-id': id, ...init.headers } });
}
async function post<T = unknown>(
  path: string,
  body: { deviceId?: string; [field: string]: unknown },
): Promise<{ status: number; body: T }> {
  const res = await call(
    path,
    { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) },
    body.deviceId,
  );
  return { status: res.status, body: (await res.json()) as T };
}
async function settled(): Promise<void> {
  for (const id of sent.splice(0))
    expect(await apiLogLine(id), `no line for ${id} in the API log`).not.to.equal(undefined);
}
async function statusOf(path: string): Promise<number> {
  const res = await call(path);
  await res.arrayBuffer();
  return res.status;
}
const poll = (deviceId: string, channel: string, currentVersion = '0.1.0') =>
  post<PollAnswer>('/v1/poll', { deviceId, hardwareId: 'devkit-a', channel, currentVersion });

describe('observability', () => {
  describe('GET /metrics on the API', () => {
    it('counts polls and their duration by method, route pattern and status, and whether an update was offered', async () => {
      const labels = { method: 'POST', route: '/v1/poll', status: '200' };
      const before = await apiMetrics();
      for (const id of ['obs-poll-1', 'obs-poll-2'])
        expect((await poll(id, 'obs-nothing')).body).to.deep.equal({ offer: null });
      expect((await post('/v1/poll', { deviceId: 'obs-poll-3' })).status).to.equal(400);
      await settled();
      const after = await apiMetrics();

      const delta = (name: string, l: Labels) => sample(after, name, l) - sample(before, name, l);
      expect(delta('ota_api_http_requests_total', labels)).to.equal(2);
      expect(delta('ota_api_http_requests_total', { ...labels, status: '400' })).to.equal(1);
      expect(delta('ota_api_http_request_duration_seconds_count', labels)).to.equal(2);
      expect(delta('ota_api_http_request_duration_seconds_bucket', { ...labels, le: '+Inf' })).to.equal(2);
      expect(delta('ota_api_polls_total', { offered: 'false' })).to.equal(2);
      expect(delta('ota_api_polls_total', { offered: 'true' })).to.equal(0);
    });

    it('counts install reports by outcome, health and error code, and never makes a series of an unknown code', async () => {
      const before = await apiMetrics();
      await deviceFetch('obs-report-1', 'obs');
      await deviceFetch('obs-report-2', 'obs');
      const report = {
        deviceId: 'obs-report-1',
        version: '1.0.0',
        outcome: 'refused',
        errorCode: 'NOT_IN_ROLLOUT',
      } as const;
      expect((await post('/v1/reports', await signedReport(report))).status).to.equal(202);
      const invented = await signedReport({ ...report, errorCode: 'INVENTED_BY_A_DEVICE' });
      expect((await post('/v1/reports', invented)).status).to.equal(202);
      const healthy = { deviceId: 'obs-report-2', version: '1.0.0', outcome: 'installed', health: 'healthy' } as const;
      expect((await post('/v1/reports', await signedReport(healthy))).status).to.equal(202);
      await settled();
      const after = await apiMetrics();

      const delta = (l: Labels) =>
        sample(after, 'ota_api_install_reports_total', l) - sample(before, 'ota_api_install_reports_total', l);
      expect(delta({ outcome: 'refused', health: 'none', error_code: 'NOT_IN_ROLLOUT' })).to.equal(1);
      expect(delta({ outcome: 'refused', health: 'none', error_code: 'other' })).to.equal(1);
      expect(delta({ outcome: 'installed', health: 'healthy', error_code: 'none' })).to.equal(1);
      expect(after).not.to.include('INVENTED_BY_A_DEVICE');
      const accepted = { method: 'POST', route: '/v1/reports', status: '202' };
      expect(
        sample(after, 'ota_api_http_requests_total', accepted) -
          sample(before, 'ota_api_http_requests_total', accepted),
      ).to.equal(3);
    });

    it('is for operators only: no token, no metrics', async () => {
      const fetch = createTransport({ caPem: await readFile(testConfig().identity.fleetCaCert, 'utf8') });
      const res = await fetch(`${testConfig().api.url}/metrics`);
      expect(res.status).to.equal(401);
    });

    it('labels requests by route pattern, never by the path a client sent', async () => {
      const junk = `obs-${randomBytes(6).toString('hex')}`;
      const before = await apiMetrics();
      expect(await statusOf('/v1/repos/release/metadata/timestamp.json')).to.equal(200);
      expect(await statusOf(`/v1/repos/release/metadata/${junk}.json`)).to.equal(404);
      expect(await statusOf(`/${junk}/x`)).to.equal(404);
      await settled();
      const after = await apiMetrics();

      const delta = (l: Labels) =>
        sample(after, 'ota_api_http_requests_total', l) - sample(before, 'ota_api_http_requests_total', l);
      const metadata = { method: 'GET', route: '/v1/repos/:repo/metadata/:file' };
      expect(delta({ ...metadata, status: '200' })).to.equal(1);
      expect(delta({ ...metadata, status: '404' })).to.equal(1);
      expect(delta({ method: 'GET', route: 'unmatched', status: '404' })).to.equal(1);
      expect(after).not.to.include(junk);
      expect(after).not.to.include('timestamp.json');
    });
  });

  describe('request ids', () => {
    it('echoes a safe x-request-id and logs one JSON line for the request under it', async () => {
      const id = `obs-${randomBytes(8).toString('hex')}`;
      const res = await (
        await deviceFetch('obs-log-1', 'obs')
      )(`${testConfig().api.url}/v1/poll`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': id },
        body: JSON.stringify({
          deviceId: 'obs-log-1',
          hardwareId: 'devkit-a',
          channel: 'obs-nothing',
          currentVersion: '0.1.0',
        }),
      });
      const body = await res.text();
      expect(res.status).to.equal(200);
      expect(res.headers.get('x-request-id')).to.equal(id);

      const line = await apiLogLine(id);
      expect(line, `no line for ${id} in the API log`).to.include({
        level: 'info',
        service: 'api',
        method: 'POST',
        route: '/v1/poll',
        status: 200,
        bytes: Buffer.byteLength(body),
      });
      expect(line!['durationMs']).to.be.a('number');
      expect(line).not.to.have.any.keys('url', 'errorCode');
    });

    it('replaces an unsafe or overlong x-request-id with one of its own', async () => {
      for (const unsafe of ['has spaces<and>markup', 'x'.repeat(65), 'quote"in"it']) {
        const res = await (
          await deviceFetch('obs-reader', 'obs')
        )(`${testConfig().api.url}/healthz`, { headers: { 'x-request-id': unsafe } });
        expect(res.status).to.equal(200);
        const id = res.headers.get('x-request-id');
        expect(id).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
        expect(await apiLogLine(id!)).to.include({ route: '/healthz', status: 200 });
      }
      const log = await readFile(new ProcessManager(TEST_PROFILE.home).logFile('api'), 'utf8');
      expect(log).not.to.include('has spaces<and>markup');
      expect(log).not.to.include('x'.repeat(65));
    });

    it('returns the request id in an error body and logs the error code with it', async () => {
      const res = await (
        await deviceFetch('obs-reader', 'obs')
      )(`${testConfig().api.url}/v1/reports`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"deviceId": ',
      });
      expect(res.status).to.equal(400);
      const id = res.headers.get('x-request-id');
      expect(await refusalOf(res)).to.include({ code: 'INVALID_INPUT', requestId: id });
      expect(await apiLogLine(id!)).to.include({ route: '/v1/reports', status: 400, errorCode: 'INVALID_INPUT' });
    });
  });

  describe('when a release runs', () => {
    const channel = 'obs';
    let workerBefore: string;
    let status: ReleaseStatus;

    before(async () => {
      workerBefore = await workerMetrics();
      await releaseAwaitingApproval(channel, '1.0.0');
      await approve(channel, '1.0.0');
      status = await waitForStatus(
        await temporalClient(),
        { channel, version: '1.0.0' },
        (s: ReleaseStatus) => s.stage === 'stable',
      );
    });

    it("the worker's metrics endpoint serves the Temporal SDK's metrics of its activities and workflows", async () => {
      const after = await workerMetrics();
      const intake = { activity_type: 'intakeBuild', task_queue: 'ota-release' };
      const delta = (name: string, l: Labels) => sample(after, name, l) - sample(workerBefore, name, l);
      expect(delta('temporal_activity_execution_latency_count', intake)).to.be.at.least(1);
      expect(
        delta('temporal_activity_execution_latency_count', { ...intake, activity_type: 'signRelease' }),
      ).to.be.at.least(1);
      expect(
        delta('temporal_workflow_task_execution_latency_count', { workflow_type: RELEASE_WORKFLOW }),
      ).to.be.at.least(1);
      expect(sample(after, 'temporal_worker_task_slots_available', { task_queue: 'ota-release' })).to.be.greaterThan(0);
    });

    it('the API counts the poll that offered it and the artifact requests it redirected to storage', async () => {
      const before = await apiMetrics();
      expect((await poll('obs-device-1', channel)).body.offer).to.include({ version: '1.0.0' });
      const path = `/v1/artifacts/${status.target!.sha256}`;
      expect((await (await call(path)).arrayBuffer()).byteLength).to.equal(status.target!.length);
      const part = await call(path, { headers: { range: 'bytes=0-99' } });
      expect(part.status).to.equal(206);
      await part.arrayBuffer();
      await settled();
      const after = await apiMetrics();

      const delta = (name: string, l: Labels) => sample(after, name, l) - sample(before, name, l);
      expect(delta('ota_api_polls_total', { offered: 'true' })).to.equal(1);
      const artifacts = { method: 'GET', route: '/v1/artifacts/:sha256' };
      // The bytes came from storage (a presigned URL): the API wrote only the two redirects.
      expect(delta('ota_api_http_requests_total', { ...artifacts, status: '302' })).to.equal(2);
      expect(delta('ota_api_http_response_bytes_total', artifacts)).to.be.below(4096);
    });
  });
});
