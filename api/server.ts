import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';

import { REPOSITORIES, type RepositoryName } from '@enigm-ota/client-sdk';
import { Client, Connection } from '@temporalio/client';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';
import express from 'express';
import type { Logger } from 'pino';

import { ServerError } from '../common/errors';
import { checkAttestationPolicy, defaultAttestationPolicy } from '../fleet/attestation';
import { OfferIndex } from '../fleet/offers';
import { AuditLog } from '../infra/auditLog';
import type { BootstrapOperator, Config } from '../infra/config';
import { type DeviceCaching, Devices } from '../infra/devices';
import { DocumentStore } from '../infra/documentStore';
import { FleetCa, fleetCaToken } from '../infra/fleetCa';
import { FleetStore } from '../infra/fleetStore';
import { createLogger } from '../infra/log';
import { LogLeaves } from '../infra/logLeaves';
import { Operators } from '../infra/operators';
import { Sessions } from '../infra/sessions';
import { SpdxTools } from '../infra/spdxTools';
import { Storage } from '../infra/storage';
import { tracingOn } from '../infra/tracing';
import { TransparencyLog } from '../infra/transparencyLog';
import { Watermarks } from '../infra/watermarks';
import { WebhookStore } from '../infra/webhookStore';
import { LogShipper } from '../transparency/shipper';
import { loadTrustedRoot } from '../trust/ceremony';
import { MetadataRepository } from '../trust/metadataRepository';
import { StoreFloor } from '../trust/versionFloor';
import { WebhookDispatcher } from '../webhooks/dispatcher';
import type { TargetPolicy } from '../webhooks/targets';
import { adminRoutes } from './adminRoutes';
import { attestationRoutes, manufacturerRoots } from './attestationRoutes';
import { adminAuth } from './auth';
import { dashboardRoutes } from './dashboardRoutes';
import { deviceRoutes } from './deviceRoutes';
import { documentRoutes } from './documentRoutes';
import { errorHandler } from './errorResponses';
import { evidenceRoutes } from './evidenceRoutes';
import { identityRoutes } from './identityRoutes';
import { insightRoutes } from './insightRoutes';
import { logRoutes } from './logRoutes';
import { MetadataCache } from './metadataCache';
import { metadataRoutes } from './metadataRoutes';
import { unmatched } from './methods';
import { ApiMetrics, observe, serveMetrics, traceRequests } from './observability';
import { RefusalGate } from './refusalGate';
import { RefusalLimiter } from './refusalLimiter';
import { releaseRoutes } from './releaseRoutes';
import { ServedTimestamps } from './servedTimestamps';
import { sessionRoutes } from './sessionRoutes';
import { refuseUnstorableUrl } from './untrusted';
import { webhookRoutes } from './webhookRoutes';

export interface RunningApi {
  url: string;
  server: Server;
  fleet: FleetStore;
  connection: Connection;
  ca: FleetCa;
  gate: RefusalGate;
  dispatcher: WebhookDispatcher;
  /** Appends the store's new leaves to the transparency log; none when no log is configured. */
  shipper: LogShipper | undefined;
}

/**
 * Starts the API on config.api.port (0 picks a free port, as tests do), HTTPS only: the
 * fleet CA's server certificate, and client certificates requested (device routes require
 * one; admin routes take an operator token instead).
 */
export async function startServer(config: Config): Promise<RunningApi> {
  const tls = readTls(config);
  const log = createLogger('api', config.observability.logLevel);
  const metrics = new ApiMetrics();
  const storage = new Storage(config.minio);
  const fleet = await FleetStore.open(config.fleet, (msg, err) => log.warn({ err }, msg));
  const webhooks = new WebhookStore(fleet.sql);
  const metadata = await metadataParts(config, { storage, fleet, metrics, log, webhooks });
  const operators = new Operators(fleet.sql);
  await bootstrapOperators(operators, config.bootstrapOperators);
  // S-23: the CA signs in its HSM token (this process has that token's PIN, not the signing keys').
  const ca = await FleetCa.load(config.identity.fleetCaCert, fleetCaToken(config));
  // Lazy: devices keep being served while Temporal is down; release routes then answer 503.
  const connection = Connection.lazy({ address: config.temporal.address });
  const audit = new AuditLog(fleet.sql);
  // S-30: each replica limits on its own (ADR 0055); sources beyond 10,000 push out the least recent.
  const gate = new RefusalGate(new RefusalLimiter({ ...config.api.refusals, maxSources: 10_000 }), audit, log);
  const parts: ApiParts = {
    ...metadata,
    storage,
    fleet,
    metrics,
    operators,
    ca,
    devices: new Devices(fleet.sql, deviceCaching(config, fleet)),
    audit,
    gate,
    sessions: new Sessions(fleet.sql),
    // With tracing on, each start and update carries the request's span to the workflow.
    temporal: new Client({
      connection,
      namespace: config.temporal.namespace,
      ...(tracingOn() && { interceptors: { workflow: [new OpenTelemetryWorkflowClientInterceptor()] } }),
    }),
    webhooks,
    targets: targetPolicy(config),
    documents: new DocumentStore(fleet.sql),
    spdx: new SpdxTools(config.supplyChain.spdxTools),
    tlog: config.transparency && new TransparencyLog(config.transparency),
    logLeaves: new LogLeaves(fleet.sql),
  };
  const dispatcher = new WebhookDispatcher(parts.webhooks, {
    ...config.webhooks,
    policy: parts.targets,
    source: `urn:enigm-ota:${config.api.url}`,
    warn: (msg, detail) => log.warn(detail, msg),
  });
  // Recorded events wake the dispatchers through the change bus, this replica's included.
  fleet.onChange('webhook', () => dispatcher.wake());
  // TLS 1.3 only: no renegotiation, so a connection's client certificate is fixed (api/auth.ts).
  const server = createServer(
    { ...tls, minVersion: 'TLSv1.3', requestCert: true, rejectUnauthorized: false },
    apiApp(config, parts),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.api.port, config.api.host, () => resolve());
  });
  server.keepAliveTimeout = 65_000;
  gate.start();
  const { port } = server.address() as AddressInfo;
  (parts.targets.self.ports as number[]).push(port);
  dispatcher.start();
  const shipper = startShipper(parts, log);
  return { url: `https://127.0.0.1:${port}`, server, fleet, connection, ca, gate, dispatcher, shipper };
}

/**
 * S-31: where webhooks may go. The API's own names and ports (this replica's, and every
 * replica the configuration names) are never a receiver; this replica's port is added once
 * it listens (port 0 picks one).
 */
function targetPolicy(config: Config): TargetPolicy {
  const urls = [config.api.url, ...config.api.failoverUrls].map((u) => new URL(u));
  const hosts = new Set(['localhost', ...config.api.tlsHosts, ...urls.map((u) => u.hostname)]);
  const ports = new Set(urls.map((u) => Number(u.port || 443)));
  if (config.api.port !== 0) ports.add(config.api.port);
  return { allowPrivate: config.webhooks.allowPrivate, self: { hosts: [...hosts], ports: [...ports] } };
}

/**
 * S-24: devices authorized from memory where every change is heard (infra/devices.ts). A
 * replica with the cache off still tells the others of its changes: theirs may be on.
 */
function deviceCaching(config: Config, fleet: FleetStore): DeviceCaching {
  if (fleet.exclusive) return { mode: 'exclusive' };
  return { mode: 'shared', feed: fleet, maxAgeMs: config.api.deviceCacheMs };
}

function readTls(config: Config): { key: Buffer; cert: Buffer; ca: Buffer } {
  const { apiTlsKey, apiTlsCert, fleetCaCert } = config.identity;
  try {
    return { key: readFileSync(apiTlsKey), cert: readFileSync(apiTlsCert), ca: readFileSync(fleetCaCert) };
  } catch (err) {
    throw new ServerError(
      'CONFIG_INVALID',
      'the API needs its TLS certificate and the fleet CA (run the key ceremony: ota keys init)',
      { cause: err },
    );
  }
}

/** Everything the routes are composed from: adapters, the repositories, the caches. */
interface ApiParts extends MetadataParts {
  storage: Storage;
  fleet: FleetStore;
  metrics: ApiMetrics;
  operators: Operators;
  ca: FleetCa;
  devices: Devices;
  audit: AuditLog;
  gate: RefusalGate;
  sessions: Sessions;
  temporal: Client;
  webhooks: WebhookStore;
  targets: TargetPolicy;
  documents: DocumentStore;
  spdx: SpdxTools;
  tlog: TransparencyLog | undefined;
  logLeaves: LogLeaves;
}

interface MetadataParts {
  watermarks: Watermarks;
  repos: Record<RepositoryName, MetadataRepository>;
  offers: OfferIndex;
  metadataCache: MetadataCache;
  servedTimestamps: ServedTimestamps;
}

/** The store's new leaves go to the transparency log, when one is configured (ADR 0078). */
function startShipper(parts: ApiParts, log: Logger): LogShipper | undefined {
  if (!parts.tlog) return undefined;
  const shipper = new LogShipper(parts.logLeaves, parts.tlog, {
    batch: 256,
    leaseMs: 60_000,
    idleMs: 1000,
    warn: (msg, detail) => log.warn(detail, msg),
  });
  shipper.start();
  return shipper;
}

/**
 * Both repositories read through the watermarks (S-25), the offers decided from the signed
 * rollout repository, and the caches devices share. A rollout change made through any
 * replica (or heard after a lost listener) drops every cache of this one.
 */
async function metadataParts(
  config: Config,
  on: { storage: Storage; fleet: FleetStore; metrics: ApiMetrics; log: Logger; webhooks: WebhookStore },
): Promise<MetadataParts> {
  const { storage, fleet, metrics, log } = on;
  // Every verified read of storage raises the watermarks; an older one is refused and alerted.
  const watermarks = new Watermarks(fleet.sql);
  const floor = new StoreFloor(watermarks, (repo, { role, found, highest }) => {
    metrics.storageRollbacks.inc({ repo, role });
    log.error(
      { repo, role, found, highest, code: 'STORAGE_ROLLBACK' },
      'storage holds older signed metadata than already seen',
    );
  });
  // Devices share one checked timestamp.json per file set for a moment; offers never run ahead of it.
  const servedTimestamps = new ServedTimestamps(config.api.rolloutCacheMs);
  const repos = {} as Record<RepositoryName, MetadataRepository>;
  for (const repo of REPOSITORIES) {
    repos[repo] = new MetadataRepository({
      name: repo,
      storage,
      root: await loadTrustedRoot(config, repo),
      expiry: config.expiry,
      floor,
      onOffersRead: (scope) => servedTimestamps.forget(scope),
      onRootChange: (name, version, previous) => void recordKeyChange(on, { repo: name, version, previous }),
    });
  }
  const offers = new OfferIndex(repos.rollout, config.api.rolloutCacheMs, {
    attestationMaxAgeMs: config.identity.attestationMaxAgeMs,
  });
  const metadataCache = MetadataCache.over(storage, {
    hitMs: config.api.metadataCacheMs,
    missMs: Math.min(config.api.rolloutCacheMs, config.api.metadataCacheMs),
    maxBytes: 64 * 1024 * 1024,
  });
  fleet.onChange('rollout', () => {
    // Published metadata raised the watermarks: the next read compares with the new floor.
    floor.forget();
    offers.invalidate();
    metadataCache.clear();
    servedTimestamps.forget();
  });
  return { watermarks, repos, offers, metadataCache, servedTimestamps };
}

/**
 * A root newer than this replica knew (`ota keys` changed keys): the `keys.changed` event, once
 * per repository and root version however many replicas follow it.
 */
async function recordKeyChange(
  on: { webhooks: WebhookStore; fleet: FleetStore; log: Logger },
  change: { repo: RepositoryName; version: number; previous: number },
): Promise<void> {
  try {
    const added = await on.webhooks.record([
      {
        key: `keys.changed:${change.repo}:${change.version}`,
        type: 'keys.changed',
        subject: `repositories/${change.repo}`,
        orderingKey: `repository:${change.repo}`,
        data: { repo: change.repo, rootVersion: change.version },
      },
    ]);
    if (added > 0) await on.fleet.notify('webhook');
  } catch (err) {
    on.log.warn({ err, ...change }, 'the keys.changed event could not be recorded');
  }
}

/** The express app: observability and the URL check first, then every router, then 405/404 and errors. */
function apiApp(config: Config, parts: ApiParts): express.Express {
  const identity = config.identity;
  const guard = adminAuth(parts);
  const attestationPolicy = checkAttestationPolicy(
    identity.attestationPolicy ?? defaultAttestationPolicy,
    'OTA_ATTESTATION_POLICY',
  );
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(observe(config, parts.metrics));
  if (tracingOn()) app.use(traceRequests());
  // S-18: before any route reads the URL (bodies: jsonBody in each router).
  app.use(refuseUnstorableUrl);
  app.get('/metrics', guard('read'), serveMetrics(parts.metrics));
  app.use(
    identityRoutes({
      devices: parts.devices,
      ca: parts.ca,
      audit: parts.audit,
      gate: parts.gate,
      deviceCertHours: identity.deviceCertHours,
    }),
  );
  const receiptAttestation = identity.manufacturerRoots
    ? { roots: () => manufacturerRoots(identity.manufacturerRoots), policy: attestationPolicy }
    : undefined;
  app.use(
    deviceRoutes({
      ...parts,
      artifactServing: config.artifacts,
      maxBodyBytes: config.api.maxBodyBytes,
      receiptAttestation,
    }),
  );
  app.use(
    attestationRoutes({
      devices: parts.devices,
      manufacturerRoots: identity.manufacturerRoots,
      attestationPolicy,
      nonceMaxAgeMs: identity.nonceMaxAgeMs,
    }),
  );
  app.use(sessionRoutes({ ...parts, sessionTtlMs: config.api.sessionHours * 3_600_000, guard }));
  app.use(dashboardRoutes());
  app.use(adminRoutes({ ...parts, guard }));
  app.use(metadataRoutes({ ...parts, config, guard }));
  app.use(insightRoutes({ ...parts, guard }));
  app.use(releaseRoutes({ ...parts, rolloutPolicy: config.rolloutPolicy, guard }));
  app.use(documentRoutes({ ...parts, guard }));
  app.use(logRoutes({ ...parts, guard }));
  app.use(evidenceRoutes({ ...parts, guard }));
  app.use(webhookRoutes({ ...parts, recorded: () => parts.fleet.notify('webhook'), guard }));
  // 405 with Allow for a path some route serves, else 404: read from the routers above.
  app.use(unmatched(app.router));
  app.use(errorHandler);
  return app;
}

/**
 * The first operators (at least an admin), given by the deployment as JSON
 * `[{ name, roles, tokenSha256 }]`: only token hashes, so the API never sees the tokens.
 * Operators that exist already are left alone.
 */
async function bootstrapOperators(operators: Operators, list: readonly BootstrapOperator[]): Promise<void> {
  if (list.length === 0) return;
  const existing = new Set((await operators.list()).map((o) => o.name));
  for (const o of list) if (!existing.has(o.name)) await operators.createWithHash({ ...o, createdBy: 'bootstrap' });
}

export async function stopServer(api: RunningApi): Promise<void> {
  await new Promise<void>((resolve) => api.server.close(() => resolve()));
  api.server.closeAllConnections();
  await api.gate.stop();
  await api.dispatcher.stop();
  await api.shipper?.stop();
  await api.fleet.close();
  await api.connection.close();
  api.ca.close();
}
