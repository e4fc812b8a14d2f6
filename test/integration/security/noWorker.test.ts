import { expect } from 'chai';

import type { AuditRow } from '../../../common/adminApi';
import { ServerError } from '../../../common/errors';
import { waitForStatus } from '../../../control/releases';
import { POLLER_FRESH_MS, requireWorker } from '../../../control/workerPresence';
import { ProcessManager } from '../../../scripts/lib/processes';
import { stackUp, TEST_PROFILE } from '../../../scripts/lib/stack';
import { waitFor } from '../../wait';
import { adminApi, apiGet, operatorToken, otaAs, releaseAwaitingApproval, temporalClient } from '../helpers';
import { TEST_EXTRA_ENV } from '../setup';

/**
 * S-19: with the worker down, a release action must be refused at once with NO_WORKER and an
 * audit line, never wait for the CLI's 60 s timeout and then apply later with nobody told.
 * Names used only by this file: channel 'noworker', operators 'nw-*'.
 * The answer times are measured against that 60 s timeout, with a wide margin.
 */
const channel = 'noworker';
const version = '1.0.0';
const path = `/v1/admin/releases/${channel}/${version}`;

async function stopWorker(): Promise<void> {
  expect(await new ProcessManager(TEST_PROFILE.home).stop('worker')).to.equal(true);
}

async function startWorker(): Promise<void> {
  await stackUp(TEST_PROFILE, { extraEnv: TEST_EXTRA_ENV });
}

/** The code and the time an admin API call took, as `nw-owner` (a release owner, not the creator). */
async function timedApi(
  method: 'GET' | 'POST',
  to: string,
  body?: unknown,
): Promise<{ code: string | undefined; ms: number }> {
  const api = await adminApi(await operatorToken('nw-owner'));
  const t0 = Date.now();
  try {
    await (method === 'GET' ? api.get(to) : api.send(method, to, body));
    return { code: undefined, ms: Date.now() - t0 };
  } catch (err) {
    return { code: err instanceof ServerError ? err.code : String(err), ms: Date.now() - t0 };
  } finally {
    await api.close();
  }
}

async function timedCli(...args: string[]): Promise<{ code: number; errorCode: string | undefined; ms: number }> {
  const t0 = Date.now();
  const r = await otaAs('nw-owner', ...args, '--json');
  return {
    code: r.code,
    errorCode: (r.json as { error?: { code?: string } } | undefined)?.error?.code,
    ms: Date.now() - t0,
  };
}

describe('security: release actions while no worker runs (S-19)', function () {
  this.timeout(360_000);

  before(async () => {
    await releaseAwaitingApproval(channel, version);
    await operatorToken('nw-owner');
    await operatorToken('nw-second');
  });

  after(async () => {
    // Other test files may follow in the same run.
    await startWorker();
  });

  describe('when the worker has just stopped (its last poll still looks recent)', () => {
    it("refuses an approval with NO_WORKER within the acceptance window, well before the CLI's 60 s timeout", async () => {
      await stopWorker();
      const answer = await timedApi('POST', `${path}/approve`, { comment: 'while the worker is down' });
      expect(answer.code).to.equal('NO_WORKER');
      expect(answer.ms).to.be.below(20_000);
    });
  });

  describe('when no worker has polled the release queue for a while', () => {
    before(async function () {
      this.timeout(POLLER_FRESH_MS + 60_000);
      const client = await temporalClient();
      await waitFor(
        'the release queue to show no live worker',
        () =>
          requireWorker(client).then(
            () => false,
            (err: ServerError) => err.code === 'NO_WORKER',
          ),
        {
          timeoutMs: POLLER_FRESH_MS + 45_000,
          intervalMs: 2000,
        },
      );
    });

    it('refuses an approval through the admin API at once with NO_WORKER', async () => {
      const answer = await timedApi('POST', `${path}/approve`, { comment: 'still down' });
      expect(answer.code).to.equal('NO_WORKER');
      expect(answer.ms).to.be.below(10_000);
    });

    it('makes `ota release approve` exit fast with NO_WORKER, not "cannot reach the API"', async () => {
      const r = await timedCli('release', 'approve', version, '--channel', channel, '--comment', 'cli while down');
      expect(r.code).to.equal(1);
      expect(r.errorCode).to.equal('NO_WORKER');
      expect(r.ms).to.be.below(10_000);
    });

    it('refuses the other release actions the same way', async () => {
      for (const action of ['pause', 'abort']) {
        const answer = await timedApi('POST', `${path}/${action}`, { reason: 'while down' });
        expect(answer.code, action).to.equal('NO_WORKER');
      }
    });

    it('answers a status query fast with NO_WORKER (API and CLI) instead of hanging', async () => {
      const api = await timedApi('GET', path);
      expect(api.code).to.equal('NO_WORKER');
      expect(api.ms).to.be.below(10_000);
      const cli = await timedCli('release', 'status', version, '--channel', channel);
      expect(cli.errorCode).to.equal('NO_WORKER');
      expect(cli.ms).to.be.below(10_000);
    });

    it('records every refused request in the audit log with what was asked and NO_WORKER', async () => {
      const rows = await apiGet<AuditRow[]>('/v1/admin/audit?actor=nw-owner&action=release.&limit=50');
      const approvals = rows.filter((r) => r.action === 'release.approve' && r.subject === `${channel}/${version}`);
      expect(approvals).to.have.length(3);
      for (const row of approvals) {
        expect(row.outcome).to.equal('failed');
        expect(row.detail).to.include('NO_WORKER');
      }
      expect(approvals.map((r) => r.reason).sort()).to.deep.equal([
        'cli while down',
        'still down',
        'while the worker is down',
      ]);
      expect(
        rows.filter((r) => r.action === 'release.pause' || r.action === 'release.abort').map((r) => r.outcome),
      ).to.deep.equal(['failed', 'failed']);
    });
  });

  describe('when the worker returns', () => {
    it('applies none of the refused actions late: the release still waits for its approval', async () => {
      await startWorker();
      const client = await temporalClient();
      const waiting = await waitForStatus(
        client,
        { channel, version, timeoutMs: 60_000 },
        (s) => s.stage === 'approval',
      );
      expect(waiting.approvals).to.deep.equal([]);
      // An update the worker takes now is handled after any left over from the outage; had a
      // refused approval applied late, this one would be refused (one approval is enough here).
      const api = await adminApi(await operatorToken('nw-second'));
      try {
        const approved = await api.send<{ approvals: Array<{ approver: string }>; history: Array<{ action: string }> }>(
          'POST',
          `${path}/approve`,
          { comment: 'after' },
        );
        expect(approved.approvals.map((a) => a.approver)).to.deep.equal(['nw-second']);
        expect(approved.history.filter((h) => ['pause', 'abort'].includes(h.action))).to.deep.equal([]);
      } finally {
        await api.close();
      }
    });
  });
});
