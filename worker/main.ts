import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { RELEASE_TASK_QUEUE } from '../common/taskQueues';
import { loadConfig } from '../infra/config';
import { createActivityDeps } from '../infra/deps';
import { ensureFreshnessSchedule } from '../infra/schedules';

/** One worker process: release workflows plus the stage activities (horizontally scalable). */
export async function runWorker(): Promise<void> {
  const config = loadConfig();
  const deps = await createActivityDeps(config);
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  try {
    const worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: RELEASE_TASK_QUEUE,
      workflowsPath: require.resolve('../workflows'),
      activities: createActivities(deps),
    });
    const schedule = await ensureFreshnessSchedule(deps.temporal, config);
    console.log(`freshness schedule ${schedule}`);
    console.log(`worker ready on task queue ${RELEASE_TASK_QUEUE}`);
    await worker.run();
  } finally {
    await connection.close();
    await deps.close();
  }
}

if (require.main === module) {
  runWorker().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
