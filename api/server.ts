import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { openRepository } from '../infra/ceremony';
import type { Config } from '../infra/config';
import { FleetStore } from '../infra/fleetStore';
import { Storage } from '../infra/storage';
import { errorHandler } from './errors';
import { observe } from './observability';
import { OfferIndex } from './offers';
import { routes } from './routes';

export interface RunningApi {
  url: string;
  server: Server;
  fleet: FleetStore;
}

/** Starts the device API on config.api.port (0 picks a free port, as tests do). */
export async function startServer(config: Config): Promise<RunningApi> {
  const storage = new Storage(config.minio);
  const offers = new OfferIndex(await openRepository(config, storage, 'rollout'), config.api.rolloutCacheMs);
  const fleet = await FleetStore.open(config.fleet);
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(observe(config));
  app.use(routes({ storage, fleet, offers, maxBodyBytes: config.api.maxBodyBytes }));
  app.use(errorHandler);
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(config.api.port, config.api.host, () => resolve(s));
    s.once('error', reject);
  });
  server.keepAliveTimeout = 65_000;
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, server, fleet };
}

export async function stopServer(api: RunningApi): Promise<void> {
  await new Promise<void>((resolve) => api.server.close(() => resolve()));
  api.server.closeAllConnections();
  await api.fleet.close();
}
