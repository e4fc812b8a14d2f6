import type { Config } from '../../infra/config';
import { FleetStore } from '../../infra/fleetStore';
import type { Output } from '../output';

/**
 * `ota db migrate`. With PGlite only one process may open the folder: stop the API first (it
 * migrates at start anyway).
 */
export async function migrate(config: Config, out: Output): Promise<number> {
  const store = await FleetStore.open(config.fleet);
  try {
    const where = config.fleet.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : `PGlite in ${config.fleet.pgliteDir}`;
    out.result({ store: where, applied: store.applied }, () =>
      store.applied.length ? `applied to ${where}: ${store.applied.join(', ')}` : `${where} is up to date`,
    );
    return 0;
  } finally {
    await store.close();
  }
}
