import { readFile } from 'node:fs/promises';

import { type CycleOutcome, type DeviceAgent, isRetryable } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import { ProcessManager, START_MARKER } from '../../../scripts/lib/processes';
import { stackUp, TEST_PROFILE } from '../../../scripts/lib/stack';
import { waitFor } from '../../wait';
import { device } from '../helpers';
import { TEST_EXTRA_ENV } from '../setup';

const DEVICES = 20;
/** Failed cycles each device meets before the API returns: deep enough in its backoff that the jitter spreads them. */
const FAILURES_EACH = 3;
// Short enough for a test; the defaults (60 s polls, 1 s base, 60 s cap) scale the same way.
const RETRY = { pollIntervalMs: 2_000, baseMs: 500, capMs: 8_000 };

describe('e2e: an API outage (S-21: devices that behave like a real fleet under outages)', () => {
  const pm = new ProcessManager(TEST_PROFILE.home);
  const stop = new AbortController();
  const cycles = new Map<string, Array<CycleOutcome & { at: number }>>();
  let agents: Array<{ id: string; agent: DeviceAgent }> = [];
  let runs: Array<Promise<void>> = [];

  before(async function () {
    this.timeout(300_000);
    agents = [];
    for (let i = 1; i <= DEVICES; i++) {
      const id = `outage-${String(i).padStart(2, '0')}`;
      agents.push({ id, agent: await device(id, 'stable', { retry: RETRY }) });
      cycles.set(id, []);
    }
  });

  after(async () => {
    stop.abort();
    await Promise.all(runs);
    // The API is back for the files after this one, whatever happened here.
    await stackUp(TEST_PROFILE, { extraEnv: TEST_EXTRA_ENV });
  });

  it('brings every device back after the API returns, not all within the same 100 ms, and keeps the API log', async function () {
    this.timeout(300_000);
    runs = agents.map(({ id, agent }) => agent.run(stop.signal, (o) => cycles.get(id)!.push({ ...o, at: Date.now() })));
    await waitFor(
      'every device polled once',
      () => [...cycles.values()].every((c) => c.some((o) => o.result)) || undefined,
      { timeoutMs: 120_000 },
    );
    const logBefore = await readFile(pm.logFile('api'), 'utf8');

    const stoppedAt = Date.now();
    expect(await pm.stop('api')).to.equal(true);
    await waitFor(
      `every device failed ${FAILURES_EACH} cycles on the stopped API`,
      () =>
        [...cycles.values()].every(
          (c) => c.filter((o) => o.error !== undefined && o.at > stoppedAt).length >= FAILURES_EACH,
        ),
      { timeoutMs: 120_000, intervalMs: 100 },
    );
    await stackUp(TEST_PROFILE, { extraEnv: TEST_EXTRA_ENV });
    const backAt = Date.now();

    const firstBack = await waitFor(
      'every device back after the outage',
      () => {
        const firsts = [...cycles.values()].map((c) => c.find((o) => o.result && o.at > stoppedAt)?.at);
        return firsts.every((t) => t !== undefined) ? firsts : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 200 },
    );

    // The devices saw the outage, as errors they retry (no answer), and carried on.
    const failed = [...cycles.values()]
      .flat()
      .filter((o) => o.error !== undefined && o.at > stoppedAt && o.at < backAt);
    expect(failed.length, 'cycles that failed during the outage').to.be.greaterThan(0);
    expect(
      failed.every((o) => isRetryable(o.error)),
      'only retryable errors',
    ).to.equal(true);
    const spreadMs = Math.max(...firstBack) - Math.min(...firstBack);
    expect(spreadMs, `first successful cycles after the restart spread over ${spreadMs} ms`).to.be.greaterThan(100);

    // The restarted API appended to its log: the earlier run's lines are still there.
    const logAfter = await readFile(pm.logFile('api'), 'utf8');
    expect(logAfter.startsWith(logBefore), 'the log before the restart is kept').to.equal(true);
    expect(logAfter.slice(logBefore.length)).to.include(START_MARKER);
  });
});
