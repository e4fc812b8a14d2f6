import { loadConfig } from '../infra/config';
import { startServer, stopServer } from './server';

async function main(): Promise<void> {
  const api = await startServer(loadConfig());
  console.log(`api ready at ${api.url}`);
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
  console.error(err);
  process.exit(1);
});
