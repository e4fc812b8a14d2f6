import { OpenTelemetryPlugin } from '@temporalio/interceptors-opentelemetry';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';

import { createActivities } from '../activities';
import { RELEASE_TASK_QUEUE } from '../common/temporalNames';
import { type Config, loadConfig } from '../infra/config';
import { createLogger, type Logger, temporalLogger } from '../infra/log';
import { ensureFreshnessSchedule } from '../infra/schedules';
import { startTracing } from '../infra/tracing';
import { createActivityDeps } from './deps';
import { faultHolds } from './faultHold';

/** One worker process: release workflows plus the stage activities (horizontally scalable). */
export async function runWorker(): Promise<void> {
  const config = loadConfig();
  const log = createLogger('worker', config.observability.logLevel);
  const metrics = installRuntime(config, log);
  // Before the adapters are made: storage and the HSM wrap their calls in spans only when it is on.
  const tracing = startTracing('worker', config.observability.traces);
  const deps = await createActivityDeps(config);
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  try {
    const worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: RELEASE_TASK_QUEUE,
      workflowsPath: require.resolve('../workflows'),
      activities: createActivities(deps),
      ...(config.workflowCacheSize === undefined ? {} : { maxCachedWorkflows: config.workflowCacheSize }),
      interceptors: { activity: faultHolds(config.failpoints.hold, log) },
      // Workflow and activity spans, joined to the API's through Temporal headers. The plugin's
      // workflow interceptors gate every yield they add behind SDK flags, so turning tracing on
      // or off never makes a running release's history replay differently.
      plugins: tracing ? [new OpenTelemetryPlugin(tracing)] : [],
    });
    const schedule = await ensureFreshnessSchedule(deps.temporal, config);
    log.info({ schedule }, 'freshness schedule');
    log.info(
      {
        taskQueue: RELEASE_TASK_QUEUE,
        metrics: metrics ?? 'off',
        workflowCache: config.workflowCacheSize ?? 'default',
        traces: config.observability.traces?.url ?? 'off',
      },
      'worker ready',
    );
    await worker.run();
  } finally {
    await connection.close();
    await deps.close();
    await tracing?.shutdown();
  }
}

/**
 * The SDK's runtime, before any connection exists: its messages (and the native core's)
 * go to the worker's JSON logger, and its own metrics (task slots, poll and activity
 * latencies, sticky cache...) are served for Prometheus when a port is configured.
 * Returns the metrics URL, if any.
 */
function installRuntime(config: Config, log: Logger): string | undefined {
  const { host, port } = config.observability.workerMetrics;
  const bindAddress = `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
  Runtime.install({
    logger: temporalLogger(log),
    telemetryOptions: {
      // Without `forward`, the native core prints its own text lines to the console.
      logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} },
      metrics: port ? { prometheus: { bindAddress } } : undefined,
    },
  });
  return port ? `http://${bindAddress}/metrics` : undefined;
}

if (require.main === module) {
  runWorker().catch((err: unknown) => {
    // The configuration may be what failed, so this logger uses defaults.
    createLogger('worker', 'info').fatal({ err }, 'worker failed');
    process.exit(1);
  });
}
