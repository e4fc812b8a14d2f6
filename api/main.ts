import { loadConfig } from '../infra/config';
import { createLogger } from '../infra/log';
import { startServer, stopServer } from './server';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger('api', config.observability.logLevel);
  const api = await startServer(config);
  log.info({ url: api.url, metrics: `${api.url}/metrics`, fleetCaKey: api.ca.keySource }, 'api ready');
  const stop = () => {
    stopServer(api).then(
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
