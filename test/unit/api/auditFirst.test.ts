import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';

import { expect } from 'chai';
import express from 'express';

import { adminAuth } from '../../../api/auth';
import { errorHandler } from '../../../api/errorResponses';
import { ApiMetrics, observe } from '../../../api/observability';
import { RefusalGate } from '../../../api/refusalGate';
import { RefusalLimiter } from '../../../api/refusalLimiter';
import { withBody } from '../../../api/requestBodies';
import { jsonBody, refuseUnstorableUrl } from '../../../api/untrusted';
import type { AuditEntry } from '../../../common/adminApi';
import type { AuditLog } from '../../../infra/auditLog';
import type { Config } from '../../../infra/config';
import { createLogger } from '../../../infra/log';
import type { Operators } from '../../../infra/operators';
import type { Sessions } from '../../../infra/sessions';
import { waitFor } from '../../wait';

/**
 * S-15: an admin change whose audit entry cannot be written must not take effect.
 * The guard (api/auth.ts adminAuth) in front of a handler that records that it ran, with a
 * fake AuditLog; the real observe, edge checks and error middleware around it.
 */

const TOKEN = 'a-good-token-0001';

interface Harness {
  url: string;
  /** What happened, in order: audit calls and the handler. */
  events: string[];
  entries: AuditEntry[];
  /** The API's log, line by line. */
  lines: string[];
  close(): Promise<void>;
}

async function harness(
  audit: { begin?: () => Promise<number>; complete?: () => Promise<void>; record?: () => Promise<void> } = {},
): Promise<Harness> {
  const events: string[] = [];
  const entries: AuditEntry[] = [];
  const lines: string[] = [];
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString('utf8');
      const parts = text.split('\n');
      text = parts.pop()!;
      lines.push(...parts);
      done();
    },
  });
  const fakeAudit = {
    async begin(e: Omit<AuditEntry, 'outcome'>) {
      events.push('begin');
      entries.push({ ...e, outcome: 'pending' });
      return (audit.begin ?? (() => Promise.resolve(1)))();
    },
    async complete(_id: number, e: AuditEntry) {
      events.push(`complete ${e.outcome}`);
      entries.push(e);
      return (audit.complete ?? (() => Promise.resolve()))();
    },
    async record(e: AuditEntry) {
      events.push(`record ${e.outcome}`);
      entries.push(e);
      return (audit.record ?? (() => Promise.resolve()))();
    },
  } as unknown as AuditLog;
  const operators = {
    authenticate: (t: string) => Promise.resolve(t === TOKEN ? { name: 'ann', roles: ['operator'] } : undefined),
  } as unknown as Operators;
  const sessions = { authenticate: () => Promise.resolve(undefined) } as unknown as Sessions;
  const log = createLogger('api', 'info', sink);
  const limiter = new RefusalLimiter({ burst: 100, perMinute: 60, rowsPerMinute: 100, maxSources: 10 });
  const guard = adminAuth({ operators, audit: fakeAudit, sessions, gate: new RefusalGate(limiter, fakeAudit, log) });

  const app = express();
  app.use(observe({} as Config, new ApiMetrics(), log));
  app.use(refuseUnstorableUrl);
  app.post(
    '/v1/admin/devices/:id/revoke',
    guard('device.manage'),
    jsonBody(1024),
    withBody('Revoke', ({ reason }, req, res) => {
      events.push('handler');
      res.locals['audit'] = { action: 'device.revoke', subject: req.params['id'], reason };
      res.json({ revoked: true });
    }),
  );
  app.use(errorHandler);
  const server: Server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    events,
    entries,
    lines,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function revoke(h: Harness, id: string, body: string, token = TOKEN): Promise<{ status: number; code?: string }> {
  const res = await fetch(`${h.url}/v1/admin/devices/${id}/revoke`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body,
  });
  const json = (await res.json()) as { error?: { code?: string } };
  return { status: res.status, code: json.error?.code };
}

/** Every line the API logged is one JSON object (no multi-line dumps). */
function expectJsonLines(lines: string[]): Array<Record<string, unknown>> {
  expect(lines).to.not.have.lengthOf(0);
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('adminAuth: the audit entry and the change are one unit (S-15)', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  describe('when the audit entry cannot be written', () => {
    it('refuses with 503 UNAVAILABLE and never runs the handler, so nothing changes', async () => {
      h = await harness({ begin: () => Promise.reject(new Error('audit_log: disk full\nsecond line')) });
      expect(await revoke(h, 'dev-1', '{"reason":"stolen"}')).to.deep.equal({ status: 503, code: 'UNAVAILABLE' });
      expect(h.events).to.deep.equal(['begin']);
      await waitFor('the request line', () => h!.lines.length > 0);
      const logged = expectJsonLines(h.lines);
      expect(logged[0]).to.include({ level: 'error', errorCode: 'UNAVAILABLE', status: 503 });
    });
  });

  describe('when the audit entry can be written', () => {
    it("writes it before the handler runs and completes it with the outcome and the handler's note", async () => {
      h = await harness();
      expect((await revoke(h, 'dev-1', '{"reason":"stolen"}')).status).to.equal(200);
      await waitFor('the completion', () => h!.events.length === 3);
      expect(h.events).to.deep.equal(['begin', 'handler', 'complete ok']);
      expect(h.entries[0]).to.include({
        actor: 'ann',
        action: 'POST /v1/admin/devices/:id/revoke',
        outcome: 'pending',
      });
      expect(h.entries[1]).to.include({
        actor: 'ann',
        action: 'device.revoke',
        subject: 'dev-1',
        reason: 'stolen',
        outcome: 'ok',
      });
    });

    it('logs a completion that fails as one JSON line, leaving the entry pending', async () => {
      h = await harness({ complete: () => Promise.reject(new Error('connection lost\n    at somewhere')) });
      expect((await revoke(h, 'dev-1', '{}')).status).to.equal(200);
      await waitFor('the failure line', () => h!.lines.some((l) => l.includes('left pending')));
      const failure = expectJsonLines(h.lines).find((l) => String(l['msg']).includes('left pending'))!;
      expect(failure).to.include({ level: 'error' });
      expect(failure['requestId']).to.be.a('string');
    });
  });

  describe('when the request is refused before the handler', () => {
    it('records the refusal once (no pending entry) for an unknown token', async () => {
      h = await harness();
      expect(await revoke(h, 'dev-1', '{}', 'an-unknown-token-01')).to.deep.equal({
        status: 401,
        code: 'UNAUTHENTICATED',
      });
      await waitFor('the audit entry', () => h!.events.length === 1);
      expect(h.events).to.deep.equal(['record refused']);
    });

    it('answers a NUL in the body with 400 INVALID_INPUT, runs no handler and completes the entry as failed', async () => {
      h = await harness();
      expect(await revoke(h, 'dev-1', '{"reason":"a\\u0000b"}')).to.deep.equal({ status: 400, code: 'INVALID_INPUT' });
      await waitFor('the completion', () => h!.events.length === 2);
      expect(h.events).to.deep.equal(['begin', 'complete failed']);
      expect(h.entries[1]).to.include({ detail: 'HTTP 400' });
    });

    it('answers a NUL in the path with 400 INVALID_INPUT before the guard', async () => {
      h = await harness();
      expect(await revoke(h, 'dev%00-1', '{}')).to.deep.equal({ status: 400, code: 'INVALID_INPUT' });
      expect(h.events).to.deep.equal([]);
    });
  });
});
