import { expect } from 'chai';

import { type ReleaseStatus, releaseWorkflowId } from '../../../common/release';
import { releaseAction, waitForStatus } from '../../../control/releases';
import { logContains, ProcessManager } from '../../../scripts/lib/processes';
import { stackUp, TEST_PROFILE } from '../../../scripts/lib/stack';
import { waitFor } from '../../wait';
import { approve, createLongBake, createRelease, operatorToken, stepPublished, temporalClient } from '../helpers';
import { TEST_EXTRA_ENV } from '../setup';
import { replayProblems } from './replayCheck';

const VERSION = '1.0.0';
const ENDED = (s: ReleaseStatus) => ['stable', 'rolled-back', 'aborted', 'rejected', 'failed'].includes(s.stage);

/**
 * Determinism under the harshest schedule: the suite's worker restarted with no workflow cache
 * (OTA_WORKER_WORKFLOW_CACHE=0), so every workflow task replays the release from its first
 * event, while whole releases run with approvals, pauses, resumes, promotes and a rollback
 * arriving during bakes and between steps, and one release continues as new mid-bake. Any
 * branch that replays differently from how it first ran fails a workflow task, which the
 * history keeps; none may.
 */
describe('faults: every workflow task replayed from the start', function () {
  this.timeout(420_000);
  const pm = new ProcessManager(TEST_PROFILE.home);

  before(async function () {
    this.timeout(120_000);
    await pm.stop('worker');
    await stackUp(TEST_PROFILE, { extraEnv: { ...TEST_EXTRA_ENV, OTA_WORKER_WORKFLOW_CACHE: '0' } });
    await waitFor('the worker ready without a workflow cache', () =>
      logContains(pm.logFile('worker'), '"workflowCache":0'),
    );
  });

  after(async function () {
    this.timeout(120_000);
    await pm.stop('worker');
    await stackUp(TEST_PROFILE, { extraEnv: TEST_EXTRA_ENV });
  });

  it('releases with operators acting during bakes and steps end as planned, and no task diverged', async () => {
    const client = await temporalClient();
    const ref = (channel: string) => ({ channel, version: VERSION });
    const act = (channel: string, action: 'pause' | 'resume' | 'promote' | 'rollback') =>
      releaseAction(client, ref(channel), { action, input: { actor: 'replay-ops', reason: action } });
    await operatorToken('test-creator'); // made once, before the parallel creates use it
    await Promise.all([
      createRelease('replay-steps', VERSION, { steps: '10,50,100', bake: '8s' }),
      createRelease('replay-gated', VERSION, { plan: 'stepgate' }),
      createRelease('replay-back', VERSION, { steps: '50,100', bake: '1h' }),
      // A history limit small enough that the pause/resume pairs below make it continue as new mid-bake.
      createLongBake('replay-long', VERSION, { createdBy: 'test-creator', historyLimit: 200 }),
    ]);
    // All four waiting first, and the 8-second bakes approved last: replay-steps would otherwise
    // be stable, its steps never seen, while the others are still being prepared (no cache).
    const channels = ['replay-gated', 'replay-back', 'replay-long', 'replay-steps'];
    for (const channel of channels)
      await waitForStatus(client, { ...ref(channel), timeoutMs: 120_000 }, (s) => s.stage === 'approval');
    for (const channel of channels) await approve(channel, VERSION);

    // During the first bake: a pause and a resume, then a promote in the second step's bake.
    await waitForStatus(client, { ...ref('replay-steps'), timeoutMs: 60_000 }, stepPublished(10));
    await act('replay-steps', 'pause');
    await act('replay-steps', 'resume');
    await waitForStatus(client, { ...ref('replay-steps'), timeoutMs: 60_000 }, stepPublished(50));
    await act('replay-steps', 'promote');

    // Between steps: the second step waits for an owner's approval.
    await waitForStatus(client, { ...ref('replay-gated'), timeoutMs: 60_000 }, (s) => s.awaitingApproval);
    await approve('replay-gated', VERSION);

    // A rollback in the middle of an hour's bake.
    await waitForStatus(client, { ...ref('replay-back'), timeoutMs: 60_000 }, stepPublished(50));
    await act('replay-back', 'rollback');

    // Pause/resume pairs until the run hands over to a new one, then promote to the end.
    await waitForStatus(client, { ...ref('replay-long'), timeoutMs: 60_000 }, stepPublished(50));
    const continued = async () =>
      (await waitForStatus(client, ref('replay-long'), () => true)).history.some((h) => h.action === 'continue-as-new');
    for (let i = 0; i < 40 && !(await continued()); i++) {
      await act('replay-long', 'pause');
      await act('replay-long', 'resume');
    }
    await act('replay-long', 'promote');

    const expected: Record<string, string> = {
      'replay-steps': 'stable',
      'replay-gated': 'stable',
      'replay-back': 'rolled-back',
      'replay-long': 'stable',
    };
    for (const [channel, stage] of Object.entries(expected)) {
      const s = await waitForStatus(client, { ...ref(channel), timeoutMs: 120_000 }, ENDED);
      expect(s.stage, `${channel}: ${JSON.stringify(s.error)}`).to.equal(stage);
    }
    const long = await waitForStatus(client, ref('replay-long'), () => true);
    expect(
      long.history.some((h) => h.action === 'continue-as-new'),
      'replay-long continued as new',
    ).to.equal(true);
    const steps = await waitForStatus(client, ref('replay-steps'), () => true);
    expect(steps.history.map((h) => h.action)).to.include.members(['pause', 'resume', 'promote']);

    const problems: string[] = [];
    for (const channel of Object.keys(expected))
      problems.push(...(await replayProblems(client, releaseWorkflowId(channel, VERSION))));
    expect(problems).to.deep.equal([]);
  });
});
