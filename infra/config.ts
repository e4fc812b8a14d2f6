import { resolve } from 'node:path';

import { OPERATOR_ROLES,type OperatorRole } from '../common/adminApi';
import { ServerError } from '../common/errors';
import { DEFAULT_POLICY, type PolicyFile } from '../common/rolloutPolicy';
import { fleetCaFiles } from './fleetCa';
import { OPERATOR_NAME } from './operators';
import { readPolicyFile } from './policyFile';

/**
 * All configuration comes from environment variables, validated once at start-up.
 * The same variables run the embedded stack and a production deployment.
 */
export interface Config {
  home: string;
  temporal: { address: string; namespace: string; uiUrl: string };
  /** region: named in presigned URLs instead of asking storage for it (MinIO's default: us-east-1). */
  minio: {
    endPoint: string;
    port: number;
    useSSL: boolean;
    accessKey: string;
    secretKey: string;
    bucketPrefix: string;
    region: string;
  };
  /**
   * fleetCaToken/fleetCaPin: the token that holds only the fleet CA's key (S-23). The API
   * gets that PIN and not `pin`, so it can issue certificates but never sign metadata.
   */
  hsm: {
    module: string;
    tokenLabel: string;
    pin: string;
    softhsmConf?: string;
    fleetCaToken: string;
    fleetCaPin: string;
  };
  /**
   * tlsHosts: the names `ota keys init` puts in the API's TLS certificate. url: the API as
   * clients reach it; failoverUrls: further replicas (OTA_API_URL may list several, separated
   * by commas) the admin client (worker, CLI) tries when one cannot be connected to.
   */
  api: {
    host: string;
    port: number;
    url: string;
    failoverUrls: string[];
    maxBodyBytes: number;
    rolloutCacheMs: number;
    metadataCacheMs: number;
    tlsHosts: string[];
    sessionHours: number;
  };
  /**
   * Artifact delivery (api/artifacts.ts): `redirect` answers a device with a presigned URL
   * valid `urlSeconds` on `publicUrl` (object storage as devices reach it); `stream` sends
   * the bytes through the API, for storage devices cannot reach.
   */
  artifacts: {
    delivery: 'redirect' | 'stream';
    urlSeconds: number;
    publicUrl: { endPoint: string; port: number; useSSL: boolean };
  };
  /**
   * Identity: the fleet CA (its key, in the HSM, signs device certificates at enrollment),
   * the API's TLS certificate, device certificate lifetime, attestation settings, and the
   * operator token the CLI and worker send to admin endpoints.
   */
  identity: {
    fleetCaCert: string;
    /** Legacy: the CA key file of a stack made before the key moved into the HSM; used only if it exists. */
    fleetCaKey: string;
    apiTlsCert: string;
    apiTlsKey: string;
    deviceCertHours: number;
    nonceMaxAgeMs: number;
    attestationMaxAgeMs: number;
    manufacturerRoots?: string;
    /** Parsed JSON of an AttestationPolicy (fleet/attestation.ts checks its shape); the default wants a verified boot. */
    attestationPolicy?: unknown;
    operatorToken?: string;
  };
  fleet: { databaseUrl?: string; pgliteDir: string };
  /** The first operators (only token hashes), created at the API's start when missing. */
  bootstrapOperators: BootstrapOperator[];
  /** Rollout plans and approval rules: OTA_POLICY_FILE, or the built-in defaults. */
  policy: PolicyFile;
  /** Folder holding the trusted roots from the key ceremony (devices are provisioned with them). */
  ceremonyDir: string;
  expiry: { rootDays: number; targetsDays: number; snapshotDays: number; timestampHours: number };
  /** Partitioned metadata (#10): how many stable releases per partition stay in device-facing metadata. */
  retention: { keepStable: number };
  /** The layout the key ceremony gives new repositories (trust/layout.ts); existing ones move with `ota keys partition`. */
  metadataLayout: 'flat' | 'partitioned';
  /** The freshness Schedule: how often it runs, and how close to expiry a role is re-signed. */
  freshness: { everyMinutes: number; withinHours: number };
  /** JSON logs (pino) at this level; the worker's Temporal metrics on host:port, port 0 = off. */
  observability: { logLevel: LogLevel; workerMetrics: { host: string; port: number } };
  /** Fault-injection failpoints (worker/faultHold.ts): for the fault suite only, never in a deployment. */
  failpoints: { hold?: string };
}

export interface BootstrapOperator {
  name: string;
  roles: OperatorRole[];
  tokenSha256: string;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const home = resolve(env['OTA_HOME'] ?? 'var');
  const int = (name: string, fallback: number, min = 0, max = 2 ** 31): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    // Digits only: Number() would also take "0x50", "1e3" or " 80 ".
    const n = /^[0-9]{1,10}$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isInteger(n) || n < min || n > max)
      problems.push(`${name} must be an integer in ${min}..${max}, got ${raw}`);
    return n;
  };
  const json = (name: string): unknown => {
    const raw = env[name];
    if (!raw) return undefined;
    try {
      return JSON.parse(raw);
    } catch {
      problems.push(`${name} must be JSON`);
      return undefined;
    }
  };
  const minioUrl = parseUrl(env['MINIO_URL'] ?? 'http://127.0.0.1:9000', 'MINIO_URL', problems);
  const apiPort = int('OTA_API_PORT', 8080, 0, 65535);
  const apiUrls = (env['OTA_API_URL'] || `https://127.0.0.1:${apiPort}`)
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
  const config: Config = {
    home,
    temporal: {
      address: env['TEMPORAL_ADDRESS'] ?? '127.0.0.1:7233',
      namespace: env['TEMPORAL_NAMESPACE'] ?? 'default',
      uiUrl: env['TEMPORAL_UI_URL'] ?? 'http://127.0.0.1:8233',
    },
    minio: {
      ...endpointOf(minioUrl),
      accessKey: env['MINIO_ACCESS_KEY'] ?? 'enigm-ota',
      secretKey: env['MINIO_SECRET_KEY'] ?? 'enigm-ota-dev-secret',
      bucketPrefix: env['OTA_BUCKET_PREFIX'] ?? 'ota',
      region: env['MINIO_REGION'] || 'us-east-1',
    },
    hsm: {
      module: env['OTA_HSM_MODULE'] ?? '/usr/lib/softhsm/libsofthsm2.so',
      tokenLabel: env['OTA_HSM_TOKEN'] ?? 'enigm-ota',
      pin: env['OTA_HSM_PIN'] ?? '',
      softhsmConf: env['SOFTHSM2_CONF'],
      fleetCaToken: env['OTA_FLEET_CA_TOKEN'] || 'enigm-ota-ca',
      fleetCaPin: env['OTA_FLEET_CA_PIN'] ?? '',
    },
    api: {
      host: env['OTA_API_HOST'] ?? '127.0.0.1',
      port: apiPort,
      url: apiUrls[0] ?? '',
      failoverUrls: apiUrls.slice(1),
      maxBodyBytes: int('OTA_API_MAX_BODY', 16 * 1024, 256),
      rolloutCacheMs: int('OTA_ROLLOUT_CACHE_MS', 1000),
      metadataCacheMs: int('OTA_METADATA_CACHE_MS', 60_000, 0, 3_600_000),
      sessionHours: int('OTA_SESSION_HOURS', 8, 1, 7 * 24),
      tlsHosts: (env['OTA_API_TLS_HOSTS'] || '127.0.0.1,localhost')
        .split(',')
        .map((h) => h.trim())
        .filter(Boolean),
    },
    artifacts: {
      delivery: env['OTA_ARTIFACT_DELIVERY'] === 'stream' ? 'stream' : 'redirect',
      urlSeconds: int('OTA_ARTIFACT_URL_SECONDS', 300, 1, 3600),
      publicUrl: endpointOf(
        env['OTA_MINIO_PUBLIC_URL']
          ? parseUrl(env['OTA_MINIO_PUBLIC_URL'], 'OTA_MINIO_PUBLIC_URL', problems)
          : minioUrl,
      ),
    },
    fleet: { databaseUrl: env['DATABASE_URL'] || undefined, pgliteDir: resolve(home, 'fleet') },
    bootstrapOperators: bootstrapOperators(json('OTA_BOOTSTRAP_OPERATORS'), problems),
    policy: policyFrom(env, problems),
    ceremonyDir: resolve(env['OTA_CEREMONY_DIR'] ?? resolve(home, 'ceremony')),
    identity: {
      fleetCaCert: '',
      fleetCaKey: '',
      apiTlsCert: '',
      apiTlsKey: '',
      deviceCertHours: int('OTA_DEVICE_CERT_HOURS', 90 * 24, 1, 10 * 365 * 24),
      nonceMaxAgeMs: int('OTA_ATTESTATION_NONCE_MS', 5 * 60_000, 1000),
      attestationMaxAgeMs: int('OTA_ATTESTATION_MAX_AGE_MS', 24 * 3_600_000, 1000),
      manufacturerRoots: env['OTA_MANUFACTURER_CA'] || undefined,
      attestationPolicy: json('OTA_ATTESTATION_POLICY'),
      operatorToken: env['OTA_TOKEN'] || undefined,
    },
    expiry: {
      rootDays: int('OTA_ROOT_EXPIRY_DAYS', 365, 1),
      targetsDays: int('OTA_TARGETS_EXPIRY_DAYS', 90, 1),
      snapshotDays: int('OTA_SNAPSHOT_EXPIRY_DAYS', 30, 1),
      timestampHours: int('OTA_TIMESTAMP_EXPIRY_HOURS', 7 * 24, 1),
    },
    retention: { keepStable: int('OTA_KEEP_STABLE_RELEASES', 2, 1, 100) },
    metadataLayout: env['OTA_METADATA_LAYOUT'] === 'flat' ? 'flat' : 'partitioned',
    freshness: { everyMinutes: 0, withinHours: 0 },
    observability: {
      logLevel: (env['OTA_LOG_LEVEL'] || 'info') as LogLevel,
      workerMetrics: {
        host: env['OTA_WORKER_METRICS_HOST'] || '127.0.0.1',
        port: int('OTA_WORKER_METRICS_PORT', 0, 0, 65535),
      },
    },
    failpoints: { hold: env['OTA_FAULT_HOLD'] || undefined },
  };
  const ca = fleetCaFiles(config.ceremonyDir);
  config.identity.fleetCaCert = resolve(env['OTA_FLEET_CA'] ?? ca.caCert);
  config.identity.fleetCaKey = resolve(env['OTA_FLEET_CA_KEY'] ?? ca.caKey);
  config.identity.apiTlsCert = resolve(env['OTA_API_TLS_CERT'] ?? ca.serverCert);
  config.identity.apiTlsKey = resolve(env['OTA_API_TLS_KEY'] ?? ca.serverKey);
  if (![config.api.url, ...config.api.failoverUrls].every((u) => u.startsWith('https://')))
    problems.push('OTA_API_URL must be https:// (devices use mutual TLS)');
  if (config.api.failoverUrls.length > 16) problems.push('OTA_API_URL lists at most 17 replicas');
  // S-23: the API logs in to the fleet CA's token; in the signing keys' token it could sign metadata.
  if (config.hsm.fleetCaToken === config.hsm.tokenLabel)
    problems.push('OTA_FLEET_CA_TOKEN must name another token than OTA_HSM_TOKEN');
  // Re-sign at half the timestamp's lifetime, checking hourly: well before any expiry.
  config.freshness.withinHours = int(
    'OTA_FRESHNESS_WINDOW_HOURS',
    Math.max(1, Math.floor(config.expiry.timestampHours / 2)),
    1,
  );
  config.freshness.everyMinutes = int('OTA_FRESHNESS_EVERY_MINUTES', 60, 1);
  if (config.freshness.withinHours >= config.expiry.timestampHours) {
    problems.push('OTA_FRESHNESS_WINDOW_HOURS must be below OTA_TIMESTAMP_EXPIRY_HOURS');
  }
  if (config.freshness.everyMinutes >= config.freshness.withinHours * 60) {
    problems.push(
      'OTA_FRESHNESS_EVERY_MINUTES must be shorter than the freshness window, or roles expire between runs',
    );
  }
  if (!LOG_LEVELS.includes(config.observability.logLevel))
    problems.push(`OTA_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);
  if (!/^[A-Za-z0-9.:\[\]-]{1,253}$/.test(config.observability.workerMetrics.host))
    problems.push('OTA_WORKER_METRICS_HOST must be a host name or IP address');
  for (const h of config.api.tlsHosts) {
    if (!/^[A-Za-z0-9.:-]{1,253}$/.test(h))
      problems.push(
        `OTA_API_TLS_HOSTS must be host names or IP addresses separated by commas, got ${JSON.stringify(h.slice(0, 64))}`,
      );
  }
  if (!['redirect', 'stream', undefined, ''].includes(env['OTA_ARTIFACT_DELIVERY']))
    problems.push('OTA_ARTIFACT_DELIVERY must be redirect or stream');
  if (!['flat', 'partitioned', undefined, ''].includes(env['OTA_METADATA_LAYOUT']))
    problems.push('OTA_METADATA_LAYOUT must be partitioned or flat');
  if (!/^[a-z0-9-]{1,32}$/.test(config.minio.region))
    problems.push('MINIO_REGION must be a region name such as us-east-1');
  if (config.minio.secretKey.length < 8) problems.push('MINIO_SECRET_KEY must have at least 8 characters');
  if (!/^[a-z0-9][a-z0-9-]{1,40}$/.test(config.minio.bucketPrefix))
    problems.push('OTA_BUCKET_PREFIX must be a lowercase bucket-name prefix');
  if (problems.length) throw new ServerError('CONFIG_INVALID', `configuration is invalid:\n  ${problems.join('\n  ')}`);
  return config;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** OTA_BOOTSTRAP_OPERATORS: `[{ name, roles, tokenSha256 }]`, each field checked. */
function bootstrapOperators(value: unknown, problems: string[]): BootstrapOperator[] {
  if (value === undefined) return [];
  const expected =
    'OTA_BOOTSTRAP_OPERATORS must be a JSON list of {"name", "roles", "tokenSha256"} (a lowercase name, roles from ' +
    OPERATOR_ROLES.join(', ') +
    ', a sha256 in hex)';
  const ok =
    Array.isArray(value) &&
    value.length <= 100 &&
    value.every(
      (o: { name?: unknown; roles?: unknown; tokenSha256?: unknown }) =>
        typeof o === 'object' &&
        o !== null &&
        typeof o.name === 'string' &&
        OPERATOR_NAME.test(o.name) &&
        Array.isArray(o.roles) &&
        o.roles.length > 0 &&
        o.roles.every((r) => (OPERATOR_ROLES as readonly unknown[]).includes(r)) &&
        typeof o.tokenSha256 === 'string' &&
        SHA256_HEX.test(o.tokenSha256),
    );
  if (!ok) {
    problems.push(expected);
    return [];
  }
  return (value as BootstrapOperator[]).map((o) => ({ name: o.name, roles: [...o.roles], tokenSha256: o.tokenSha256 }));
}

function policyFrom(env: Env, problems: string[]): PolicyFile {
  try {
    return readPolicyFile(env['OTA_POLICY_FILE']);
  } catch (err) {
    problems.push(err instanceof Error ? err.message : String(err));
    return DEFAULT_POLICY;
  }
}

/** The HSM PIN is only needed by processes that sign (worker, key ceremony). */
export function requireHsmPin(config: Config): string {
  if (!config.hsm.pin)
    throw new ServerError('CONFIG_INVALID', 'OTA_HSM_PIN is not set (the worker signs with the HSM)');
  return config.hsm.pin;
}

/** The fleet CA token's PIN: the API (issues certificates) and the key ceremony (makes the CA). */
export function requireFleetCaPin(config: Config): string {
  if (!config.hsm.fleetCaPin)
    throw new ServerError('CONFIG_INVALID', 'OTA_FLEET_CA_PIN is not set (the fleet CA signs in its HSM token)');
  return config.hsm.fleetCaPin;
}

function parseUrl(value: string, name: string, problems: string[]): URL {
  try {
    return new URL(value);
  } catch {
    problems.push(`${name} is not a URL: ${value}`);
    return new URL('http://invalid');
  }
}

/** Host, port and TLS of an object storage URL. */
function endpointOf(url: URL): { endPoint: string; port: number; useSSL: boolean } {
  return {
    endPoint: url.hostname,
    port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
    useSSL: url.protocol === 'https:',
  };
}
