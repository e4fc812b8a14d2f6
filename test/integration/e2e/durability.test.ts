import { expect } from 'chai';

import { waitForStatus } from '../../../control/releases';
import { ProcessManager } from '../../../scripts/lib/processes';
import { stackUp, TEST_PROFILE } from '../../../scripts/lib/stack';
import { waitFor } from '../../wait';
import { approve, releaseAwaitingApproval, stepPublished, temporalClient } from '../helpers';
import { failedAttempts, ofType, releaseEvents } from '../releaseHistory';
import { TEST_EXTRA_ENV } from '../setup';

/** Kills the worker process outright (no graceful shutdown), as a crash would. */
async function killWorker(): Promise<void> {
  expect(await new ProcessManager(TEST_PROFILE.home).stop('worker', { kill: true })).to.equal(true);
}

async function restartWorker(): Promise<void> {
  await stackUp(TEST_PROFILE, { extraEnv: TEST_EXTRA_ENV });
}

describe('a release when its worker is killed', () => {
  // Whatever a test left, the next file meets a running worker.
  afterEach(async function () {
    this.timeout(120_000);
    if (!new ProcessManager(TEST_PROFILE.home).running('worker')) await restartWorker();
  });

  it('continues the rollout where it was after a kill during a bake time', async () => {
    await releaseAwaitingApproval('durable', '1.0.0', { steps: '50,100', bake: '4s' });
    await approve('durable', '1.0.0');
    const client = await temporalClient();
    await waitForStatus(client, { channel: 'durable', version: '1.0.0' }, stepPublished(50));
    const recorded = (await releaseEvents('durable', '1.0.0')).length;
    await killWorker();
    // The bake went on on the server while no worker existed: a timer of the bake fired, or the
    // health read the kill cut short timed out (Temporal records both).
    const wentOn = async () =>
      ofType((await releaseEvents('durable', '1.0.0')).slice(recorded), 'EVENT_TYPE_TIMER_FIRED').length > 0 ||
      (await failedAttempts('durable', '1.0.0', 'rolloutHealth')) > 0;
    await waitFor('the bake going on with no worker', wentOn, { timeoutMs: 45_000, intervalMs: 250 });
    await restartWorker();
    const s = await waitForStatus(
      client,
      { channel: 'durable', version: '1.0.0', timeoutMs: 60_000 },
      (x) => x.stage === 'stable',
    );
    expect(s.history.filter((h) => h.action === 'step').map((h) => h.detail)).to.deep.equal(['50%', '100%']);
  });

  it('keeps waiting for its approval after a kill, and proceeds once approved', async () => {
    await releaseAwaitingApproval('durable-approval', '1.0.0');
    await killWorker();
    await restartWorker();
    const client = await temporalClient();
    const waiting = await waitForStatus(
      client,
      { channel: 'durable-approval', version: '1.0.0' },
      (x) => x.stage === 'approval',
    );
    expect(waiting.awaitingApproval).to.equal(true);
    await approve('durable-approval', '1.0.0');
    await waitForStatus(
      client,
      { channel: 'durable-approval', version: '1.0.0', timeoutMs: 60_000 },
      (x) => x.stage === 'stable',
    );
  });
});
