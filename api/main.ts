import { loadConfig } from '../infra/config';
import { createLogger } from '../infra/log';
import { startTracing } from '../infra/tracing';
import { startServer, stopServer } from './server';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger('api', config.observability.logLevel);
  // Before the server is made: storage wraps its calls in spans only when tracing is on.
  const tracing = startTracing('api', config.observability.traces);
  const api = await startServer(config);
  log.info(
    {
      url: api.url,
      metrics: `${api.url}/metrics`,
      fleetCaKey: api.ca.keySource,
      traces: config.observability.traces?.url ?? 'off',
    },
    'api ready',
  );
  const stop = () => {
    stopServer(api)
      .then(() => tracing?.shutdown())
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  // The configuration may be what failed, so this logger uses defaults.
  createLogger('api', 'info').fatal({ err }, 'api failed');
  process.exit(1);
});
