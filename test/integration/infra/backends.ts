import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { FleetStore } from '../../../infra/fleetStore';
import { startPostgres, stopPostgres } from '../../../scripts/lib/postgres';
import { TEST_PORT_OFFSET } from '../../../scripts/lib/stack';

export interface Backend {
  name: string;
  /** A fresh, empty store's settings, and how to throw it away. */
  open: () => Promise<{ fleet: Parameters<typeof FleetStore.open>[0]; done: () => Promise<void> }>;
}

/**
 * The fleet store's two engines, PGlite (embedded default) and a real PostgreSQL, for suites
 * that must behave the same on both. `port` is the PostgreSQL port before the test offset:
 * each file takes its own, so a cluster still stopping never answers another file.
 */
export function backends(port: number): Backend[] {
  return [
    {
      name: 'PGlite',
      open: async () => {
        const dir = await mkdtemp(join(tmpdir(), 'ota-pglite-'));
        return { fleet: { pgliteDir: dir }, done: () => rm(dir, { recursive: true, force: true }) };
      },
    },
    {
      name: 'PostgreSQL',
      open: async () => {
        // Under /tmp: the postgres user must reach the folder, wherever the checkout lives.
        const dir = await mkdtemp(join(tmpdir(), 'ota-postgres-'));
        const url = await startPostgres(dir, port + TEST_PORT_OFFSET);
        return {
          fleet: { databaseUrl: url, pgliteDir: '' },
          done: async () => {
            stopPostgres(dir);
            await rm(dir, { recursive: true, force: true });
          },
        };
      },
    },
  ];
}
