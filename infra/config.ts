import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { OPERATOR_ROLES, type OperatorRole } from '../common/adminApi';
import { ServerError } from '../common/errors';
import { checkPolicy, DEFAULT_POLICY, type PolicyFile } from '../common/rolloutPolicy';
import { matches } from '../common/validation';

/**
 * All configuration comes from environment variables, validated once at start-up.
 * The same variables run the embedded stack and a production deployment. Each adapter
 * takes its own slice (`new Storage(config.minio)`, `Hsm.open(config.hsm, ...)`); this
 * module imports none of them.
 */
export interface Config {
  home: string;
  temporal: { address: string; namespace: string; uiUrl: string };
  /** region: named in presigned URLs instead of asking storage for it (MinIO's default: us-east-1). */
  minio: Endpoint & { accessKey: string; secretKey: string; bucketPrefix: string; region: string };
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
    /** S-24: how long a PostgreSQL replica may authorize a device from memory (0: never). */
    deviceCacheMs: number;
    tlsHosts: string[];
    sessionHours: number;
    /** S-30: refused unauthenticated attempts per source, and their audit entries per replica. */
    refusals: { burst: number; perMinute: number; rowsPerMinute: number };
  };
  /**
   * Artifact delivery (api/artifacts.ts): `redirect` answers a device with a presigned URL
   * valid `urlSeconds` on `publicUrl` (object storage as devices reach it); `stream` sends
   * the bytes through the API, for storage devices cannot reach.
   */
  artifacts: { mode: 'redirect' | 'stream'; urlSeconds: number; publicUrl: Endpoint };
  /**
   * Identity: the fleet CA's certificate (its key, in the HSM, signs device certificates at
   * enrollment), the API's TLS certificate, device certificate lifetime, attestation settings,
   * and the operator token the CLI and worker send to admin endpoints.
   */
  identity: {
    fleetCaCert: string;
    apiTlsCert: string;
    apiTlsKey: string;
    deviceCertHours: number;
    nonceMaxAgeMs: number;
    attestationMaxAgeMs: number;
    manufacturerRoots?: string;
    /**
     * Parsed JSON of an AttestationPolicy (fleet/attestation.ts checks its shape); the default
     * wants a verified boot.
     */
    attestationPolicy?: unknown;
    operatorToken?: string;
  };
  fleet: { databaseUrl?: string; pgliteDir: string };
  /** The first operators (only token hashes), created at the API's start when missing. */
  bootstrapOperators: BootstrapOperator[];
  /** Rollout plans and approval rules: OTA_POLICY_FILE, or the built-in defaults. */
  rolloutPolicy: PolicyFile;
  /** Folder holding the trusted roots from the key ceremony (devices are provisioned with them). */
  ceremonyDir: string;
  expiry: { rootDays: number; targetsDays: number; snapshotDays: number; timestampHours: number };
  /** Partitioned metadata: how many stable releases per partition stay in device-facing metadata. */
  retention: { keepStable: number };
  /**
   * The layout the key ceremony gives new repositories (trust/layout.ts); existing ones move with
   * `ota keys partition`.
   */
  metadataLayout: 'flat' | 'partitioned';
  /** The freshness Schedule: how often it runs, and how close to expiry a role is re-signed. */
  freshness: { everyMinutes: number; withinHours: number };
  /** JSON logs (pino) at this level; the worker's Temporal metrics on host:port, port 0 = off. */
  observability: {
    logLevel: LogLevel;
    workerMetrics: { host: string; port: number };
    /**
     * OpenTelemetry traces (infra/tracing.ts), exported over OTLP/HTTP to `url`; undefined (the
     * default) when no OTLP endpoint is configured: then nothing is traced at all.
     */
    traces?: { url: string; sampleRatio: number };
  };
  /** Fault-injection failpoints (worker/faultHold.ts): for the fault suite only, never in a deployment. */
  failpoints: { hold?: string };
  /**
   * Release workflows the worker keeps in memory between tasks. 0 replays every workflow task
   * from the full history: slower, and the way to prove the workflow code deterministic.
   * Unset: the SDK's default, sized from the worker's memory.
   */
  workflowCacheSize?: number;
  /**
   * Release documents: the command that validates SPDX SBOMs (`pyspdxtools` of PyPI spdx-tools,
   * found on PATH unless a path is given; infra/spdxTools.ts).
   */
  supplyChain: { spdxTools: string };
  /**
   * The transparency log (ADR 0078): where it is, the token that may append, its origin (the
   * first line of its checkpoints) and the file with its verifier key (the ceremony writes it;
   * whoever checks a checkpoint pins it), and the verifier key files of the witnesses the
   * devices provisioned here require (the simulator's factory kit; every one must cosign).
   * Undefined when OTA_TLOG_URL is unset: then nothing is logged, and the shipper does not run.
   */
  transparency?: { url: string; writeToken: string; origin: string; keyFile: string; witnessKeyFiles: string[] };
  /**
   * Webhook delivery (webhooks/): `allowPrivate` lets subscriptions reach loopback and private
   * addresses (on-premises receivers; link-local stays refused); the longest wait between
   * attempts; how long a failing delivery is retried (then it is dead); how long one attempt may take; how many deliveries a replica sends at once.
   */
  webhooks: {
    allowPrivate: boolean;
    maxRetryMs: number;
    giveUpAfterMs: number;
    timeoutMs: number;
    concurrency: number;
  };
}

/** Host, port and TLS of a server reached by URL (object storage). */
export interface Endpoint {
  endPoint: string;
  port: number;
  useSSL: boolean;
}

export interface BootstrapOperator {
  name: string;
  roles: OperatorRole[];
  tokenSha256: string;
}

/**
 * What the key ceremony writes into its folder, beside the trusted roots: the fleet CA's
 * certificate and the API's TLS pair.
 */
export interface CeremonyFiles {
  caCert: string;
  serverCert: string;
  serverKey: string;
}

export function ceremonyFiles(ceremonyDir: string): CeremonyFiles {
  return {
    caCert: join(ceremonyDir, 'fleet-ca.pem'),
    serverCert: join(ceremonyDir, 'api-tls.pem'),
    serverKey: join(ceremonyDir, 'api-tls.key'),
  };
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const MAX_POLICY_BYTES = 256 * 1024;

type Env = Record<string, string | undefined>;

/** Reads variables, collecting every problem, so one start-up names all of them at once. */
class EnvReader {
  readonly problems: string[] = [];

  constructor(private readonly env: Env) {}

  /** The variable, or undefined when unset or empty. */
  text(name: string): string | undefined {
    const raw = this.env[name];
    return raw === undefined || raw === '' ? undefined : raw;
  }

  int(name: string, fallback: number, range: { min?: number; max?: number } = {}): number {
    const { min = 0, max = 2 ** 31 } = range;
    const raw = this.text(name);
    if (raw === undefined) return fallback;
    // Digits only: Number() would also take "0x50", "1e3" or " 80 ".
    const n = /^[0-9]{1,10}$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isInteger(n) || n < min || n > max)
      this.problems.push(`${name} must be an integer in ${min}..${max}, got ${raw}`);
    return n;
  }

  json(name: string): unknown {
    const raw = this.text(name);
    if (raw === undefined) return undefined;
    try {
      return JSON.parse(raw) as unknown;
    } catch {
      this.problems.push(`${name} must be JSON`);
      return undefined;
    }
  }

  url(name: string, fallback: string): URL {
    const value = this.text(name) ?? fallback;
    try {
      return new URL(value);
    } catch {
      this.problems.push(`${name} is not a URL: ${value}`);
      return new URL('http://invalid');
    }
  }

  /** One of `allowed` (the first when unset). */
  choice<T extends string>(name: string, allowed: readonly T[]): T {
    const raw = this.text(name);
    if (raw === undefined) return allowed[0]!;
    if ((allowed as readonly string[]).includes(raw)) return raw as T;
    this.problems.push(`${name} must be ${allowed.join(' or ')}`);
    return allowed[0]!;
  }

  /** A comma-separated list, trimmed, empty items dropped. */
  list(name: string, fallback: string): string[] {
    return (this.text(name) ?? fallback)
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean);
  }
}

export function loadConfig(env: Env = process.env): Config {
  const vars = new EnvReader(env);
  const home = resolve(env['OTA_HOME'] ?? 'var');
  const ceremonyDir = resolve(env['OTA_CEREMONY_DIR'] ?? resolve(home, 'ceremony'));
  const minio = minioConfig(vars);
  const expiry = expiryConfig(vars);
  const config: Config = {
    home,
    temporal: {
      address: env['TEMPORAL_ADDRESS'] ?? '127.0.0.1:7233',
      namespace: env['TEMPORAL_NAMESPACE'] ?? 'default',
      uiUrl: env['TEMPORAL_UI_URL'] ?? 'http://127.0.0.1:8233',
    },
    minio: minio.config,
    hsm: hsmConfig(vars, env),
    api: apiConfig(vars, env),
    artifacts: {
      mode: vars.choice('OTA_ARTIFACT_DELIVERY', ['redirect', 'stream']),
      urlSeconds: artifactUrlSeconds(vars),
      publicUrl: endpointOf(vars.text('OTA_MINIO_PUBLIC_URL') ? vars.url('OTA_MINIO_PUBLIC_URL', '') : minio.url),
    },
    fleet: { databaseUrl: vars.text('DATABASE_URL'), pgliteDir: resolve(home, 'fleet') },
    bootstrapOperators: bootstrapOperators(vars),
    rolloutPolicy: policyFile(vars),
    ceremonyDir,
    identity: identityConfig(vars, { env, ceremonyDir }),
    expiry,
    retention: { keepStable: vars.int('OTA_KEEP_STABLE_RELEASES', 2, { min: 1, max: 100 }) },
    metadataLayout: vars.choice('OTA_METADATA_LAYOUT', ['partitioned', 'flat']),
    freshness: freshnessConfig(vars, expiry),
    observability: observabilityConfig(vars),
    failpoints: { hold: vars.text('OTA_FAULT_HOLD') },
    workflowCacheSize: vars.text('OTA_WORKER_WORKFLOW_CACHE')
      ? vars.int('OTA_WORKER_WORKFLOW_CACHE', 0, { max: 100_000 })
      : undefined,
    supplyChain: { spdxTools: vars.text('OTA_SPDX_TOOLS') ?? 'pyspdxtools' },
    transparency: transparencyConfig(vars, ceremonyDir),
    webhooks: {
      allowPrivate: vars.choice('OTA_WEBHOOK_ALLOW_PRIVATE', ['0', '1']) === '1',
      maxRetryMs: vars.int('OTA_WEBHOOK_MAX_RETRY_MS', 15 * 60_000, { min: 1000, max: 3_600_000 }),
      giveUpAfterMs: vars.int('OTA_WEBHOOK_RETRY_HOURS', 24, { min: 1, max: 7 * 24 }) * 3_600_000,
      timeoutMs: vars.int('OTA_WEBHOOK_TIMEOUT_MS', 10_000, { min: 100, max: 60_000 }),
      concurrency: vars.int('OTA_WEBHOOK_CONCURRENCY', 16, { min: 1, max: 256 }),
    },
  };
  if (vars.problems.length) {
    throw new ServerError('CONFIG_INVALID', `configuration is invalid:\n  ${vars.problems.join('\n  ')}`);
  }
  return config;
}

/**
 * A presigned artifact URL works for whoever holds it until it expires, so it lives only as
 * long as a device needs to follow the redirect: storage checks the expiry when a request
 * starts, not while it streams, and a device resuming a download asks the API again and gets
 * a fresh URL (S-26). The signed date has whole seconds, so 1 s may be over at once.
 */
const ARTIFACT_URL_SECONDS = { fallback: 30, min: 2, max: 300 };

function artifactUrlSeconds(vars: EnvReader): number {
  const { fallback, min, max } = ARTIFACT_URL_SECONDS;
  const raw = vars.text('OTA_ARTIFACT_URL_SECONDS');
  if (raw === undefined) return fallback;
  const n = /^[0-9]{1,10}$/.test(raw) ? Number(raw) : NaN;
  // Written so that NaN refuses.
  if (!(n >= min && n <= max))
    vars.problems.push(
      `OTA_ARTIFACT_URL_SECONDS must be whole seconds in ${min}..${max}, got ${raw.slice(0, 32)}: a presigned artifact URL is a bearer token until it expires and needs only to outlive the redirect (a resumed download gets a fresh one); below ${min} s it can expire before the device follows it`,
    );
  return n;
}

function minioConfig(vars: EnvReader): { config: Config['minio']; url: URL } {
  const url = vars.url('MINIO_URL', 'http://127.0.0.1:9000');
  const config = {
    ...endpointOf(url),
    accessKey: vars.text('MINIO_ACCESS_KEY') ?? 'enigm-ota',
    secretKey: vars.text('MINIO_SECRET_KEY') ?? 'enigm-ota-dev-secret',
    bucketPrefix: vars.text('OTA_BUCKET_PREFIX') ?? 'ota',
    region: vars.text('MINIO_REGION') ?? 'us-east-1',
  };
  if (!/^[a-z0-9-]{1,32}$/.test(config.region))
    vars.problems.push('MINIO_REGION must be a region name such as us-east-1');
  if (config.secretKey.length < 8) vars.problems.push('MINIO_SECRET_KEY must have at least 8 characters');
  if (!/^[a-z0-9][a-z0-9-]{1,40}$/.test(config.bucketPrefix)) {
    vars.problems.push('OTA_BUCKET_PREFIX must be a lowercase bucket-name prefix');
  }
  return { config, url };
}

function hsmConfig(vars: EnvReader, env: Env): Config['hsm'] {
  const hsm = {
    module: env['OTA_HSM_MODULE'] ?? '/usr/lib/softhsm/libsofthsm2.so',
    tokenLabel: env['OTA_HSM_TOKEN'] ?? 'enigm-ota',
    pin: env['OTA_HSM_PIN'] ?? '',
    softhsmConf: env['SOFTHSM2_CONF'],
    fleetCaToken: vars.text('OTA_FLEET_CA_TOKEN') ?? 'enigm-ota-ca',
    fleetCaPin: env['OTA_FLEET_CA_PIN'] ?? '',
  };
  // S-23: the API logs in to the fleet CA's token; in the signing keys' token it could sign metadata.
  if (hsm.fleetCaToken === hsm.tokenLabel)
    vars.problems.push('OTA_FLEET_CA_TOKEN must name another token than OTA_HSM_TOKEN');
  return hsm;
}

/** Ten minutes: the longest a replica may keep the signed rollout state it read. */
const MAX_ROLLOUT_CACHE_MS = 600_000;
/** A minute: the longest a revocation may go unseen by a replica whose notification was lost. */
const MAX_DEVICE_CACHE_MS = 60_000;

function apiConfig(vars: EnvReader, env: Env): Config['api'] {
  const port = vars.int('OTA_API_PORT', 8080, { max: 65535 });
  const urls = vars.list('OTA_API_URL', `https://127.0.0.1:${port}`);
  const api = {
    host: env['OTA_API_HOST'] ?? '127.0.0.1',
    port,
    url: urls[0] ?? '',
    failoverUrls: urls.slice(1),
    maxBodyBytes: vars.int('OTA_API_MAX_BODY', 16 * 1024, { min: 256 }),
    // S-24: replicas are told of every change; the cache bounds how long one whose notification
    // was lost (a writer that could not reach the API) or a change in storage goes unseen.
    rolloutCacheMs: vars.int('OTA_ROLLOUT_CACHE_MS', 1000, { max: MAX_ROLLOUT_CACHE_MS }),
    metadataCacheMs: vars.int('OTA_METADATA_CACHE_MS', 60_000, { max: 3_600_000 }),
    // Replicas are told of every device change; this bounds one whose notification was lost
    // unnoticed (a listener that went down is noticed, and nothing is kept meanwhile).
    deviceCacheMs: vars.int('OTA_DEVICE_CACHE_MS', 5000, { max: MAX_DEVICE_CACHE_MS }),
    sessionHours: vars.int('OTA_SESSION_HOURS', 8, { min: 1, max: 7 * 24 }),
    refusals: {
      burst: vars.int('OTA_REFUSAL_BURST', 10, { min: 1, max: 100_000 }),
      perMinute: vars.int('OTA_REFUSALS_PER_MINUTE', 6, { min: 1, max: 100_000 }),
      rowsPerMinute: vars.int('OTA_REFUSAL_ENTRIES_PER_MINUTE', 60, { min: 1, max: 100_000 }),
    },
    tlsHosts: vars.list('OTA_API_TLS_HOSTS', '127.0.0.1,localhost'),
  };
  if (![api.url, ...api.failoverUrls].every((u) => u.startsWith('https://'))) {
    vars.problems.push('OTA_API_URL must be https:// (devices use mutual TLS)');
  }
  if (api.failoverUrls.length > 16) vars.problems.push('OTA_API_URL lists at most 17 replicas');
  for (const h of api.tlsHosts) {
    if (!/^[A-Za-z0-9.:-]{1,253}$/.test(h)) {
      vars.problems.push(
        `OTA_API_TLS_HOSTS must be host names or IP addresses separated by commas, got ${JSON.stringify(h.slice(0, 64))}`,
      );
    }
  }
  return api;
}

function identityConfig(vars: EnvReader, where: { env: Env; ceremonyDir: string }): Config['identity'] {
  const files = ceremonyFiles(where.ceremonyDir);
  return {
    fleetCaCert: resolve(where.env['OTA_FLEET_CA'] ?? files.caCert),
    apiTlsCert: resolve(where.env['OTA_API_TLS_CERT'] ?? files.serverCert),
    apiTlsKey: resolve(where.env['OTA_API_TLS_KEY'] ?? files.serverKey),
    deviceCertHours: vars.int('OTA_DEVICE_CERT_HOURS', 90 * 24, { min: 1, max: 10 * 365 * 24 }),
    nonceMaxAgeMs: vars.int('OTA_ATTESTATION_NONCE_MS', 5 * 60_000, { min: 1000 }),
    attestationMaxAgeMs: vars.int('OTA_ATTESTATION_MAX_AGE_MS', 24 * 3_600_000, { min: 1000 }),
    manufacturerRoots: vars.text('OTA_MANUFACTURER_CA'),
    attestationPolicy: vars.json('OTA_ATTESTATION_POLICY'),
    operatorToken: vars.text('OTA_TOKEN'),
  };
}

function expiryConfig(vars: EnvReader): Config['expiry'] {
  return {
    rootDays: vars.int('OTA_ROOT_EXPIRY_DAYS', 365, { min: 1 }),
    targetsDays: vars.int('OTA_TARGETS_EXPIRY_DAYS', 90, { min: 1 }),
    snapshotDays: vars.int('OTA_SNAPSHOT_EXPIRY_DAYS', 30, { min: 1 }),
    // How long a compromised API can hold a device on the metadata it has (a freeze): a day by
    // default, a week at most (docs/adr/0052-timestamps-expire-within-a-day.md).
    timestampHours: vars.int('OTA_TIMESTAMP_EXPIRY_HOURS', 24, { min: 1, max: 7 * 24 }),
  };
}

/** Re-sign at half the timestamp's lifetime, checking hourly: well before any expiry. */
function freshnessConfig(vars: EnvReader, expiry: Config['expiry']): Config['freshness'] {
  const withinHours = vars.int('OTA_FRESHNESS_WINDOW_HOURS', Math.max(1, Math.floor(expiry.timestampHours / 2)), {
    min: 1,
  });
  // At most 2 h: partition timestamps must stay inside the devices' 6 h entry bound (D-18).
  const everyMinutes = vars.int('OTA_FRESHNESS_EVERY_MINUTES', 60, { min: 1, max: 120 });
  if (withinHours >= expiry.timestampHours) {
    vars.problems.push('OTA_FRESHNESS_WINDOW_HOURS must be below OTA_TIMESTAMP_EXPIRY_HOURS');
  }
  if (everyMinutes >= withinHours * 60) {
    vars.problems.push(
      'OTA_FRESHNESS_EVERY_MINUTES must be shorter than the freshness window, or roles expire between runs',
    );
  }
  return { everyMinutes, withinHours };
}

function transparencyConfig(vars: EnvReader, ceremonyDir: string): Config['transparency'] {
  if (!vars.text('OTA_TLOG_URL')) return undefined;
  const url = vars.url('OTA_TLOG_URL', '').toString().replace(/\/$/, '');
  const writeToken = vars.text('OTA_TLOG_WRITE_TOKEN') ?? '';
  if (writeToken.length < 32) vars.problems.push('OTA_TLOG_WRITE_TOKEN must be at least 32 characters');
  const origin = vars.text('OTA_TLOG_ORIGIN') ?? 'enigm-ota.local/log';
  if (!/^[\x21-\x2a\x2c-\x7e]{1,128}$/.test(origin))
    vars.problems.push('OTA_TLOG_ORIGIN must be printable, without spaces or "+", at most 128 characters');
  return {
    url,
    writeToken,
    origin,
    keyFile: vars.text('OTA_TLOG_KEY_FILE') ?? join(ceremonyDir, 'transparency-log.vkey'),
    witnessKeyFiles: vars.list('OTA_TLOG_WITNESS_KEYS', ''),
  };
}

function observabilityConfig(vars: EnvReader): Config['observability'] {
  const logLevel = (vars.text('OTA_LOG_LEVEL') ?? 'info') as LogLevel;
  const host = vars.text('OTA_WORKER_METRICS_HOST') ?? '127.0.0.1';
  if (!LOG_LEVELS.includes(logLevel)) vars.problems.push(`OTA_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);
  if (!/^[A-Za-z0-9.:[\]-]{1,253}$/.test(host))
    vars.problems.push('OTA_WORKER_METRICS_HOST must be a host name or IP address');
  return {
    logLevel,
    workerMetrics: { host, port: vars.int('OTA_WORKER_METRICS_PORT', 0, { max: 65535 }) },
    traces: tracesConfig(vars),
  };
}

/**
 * The OpenTelemetry variables operators already know: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (the
 * whole URL) or OTEL_EXPORTER_OTLP_ENDPOINT (its base; /v1/traces is added), OTEL_SDK_DISABLED;
 * and OTA_TRACE_SAMPLE_PERCENT, the share of requests and releases that start a trace.
 */
function tracesConfig(vars: EnvReader): Config['observability']['traces'] {
  const whole = vars.text('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const base = vars.text('OTEL_EXPORTER_OTLP_ENDPOINT');
  const percent = vars.int('OTA_TRACE_SAMPLE_PERCENT', 100, { min: 1, max: 100 });
  if (vars.text('OTEL_SDK_DISABLED') === 'true' || (whole === undefined && base === undefined)) return undefined;
  const name = whole !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT';
  const url = vars.url(name, '');
  if (url.protocol !== 'http:' && url.protocol !== 'https:') vars.problems.push(`${name} must be an http(s) URL`);
  if (url.username || url.password) vars.problems.push(`${name} must not carry credentials`);
  if (whole === undefined) url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1/traces`;
  return { url: url.href, sampleRatio: percent / 100 };
}

/** OTA_BOOTSTRAP_OPERATORS: `[{ name, roles, tokenSha256 }]`, each field checked. */
function bootstrapOperators(vars: EnvReader): BootstrapOperator[] {
  const value = vars.json('OTA_BOOTSTRAP_OPERATORS');
  if (value === undefined) return [];
  const valid = (o: { name?: unknown; roles?: unknown; tokenSha256?: unknown }) =>
    typeof o === 'object' &&
    o !== null &&
    matches('operatorName', o.name) &&
    Array.isArray(o.roles) &&
    o.roles.length > 0 &&
    o.roles.every((role) => (OPERATOR_ROLES as readonly unknown[]).includes(role)) &&
    matches('sha256', o.tokenSha256);
  if (!(Array.isArray(value) && value.length <= 100 && value.every(valid))) {
    vars.problems.push(
      `OTA_BOOTSTRAP_OPERATORS must be a JSON list of {"name", "roles", "tokenSha256"} (a lowercase name, roles from ${OPERATOR_ROLES.join(', ')}, a sha256 in hex)`,
    );
    return [];
  }
  return (value as BootstrapOperator[]).map((o) => ({ name: o.name, roles: [...o.roles], tokenSha256: o.tokenSha256 }));
}

/** OTA_POLICY_FILE (JSON, at most 256 KiB, checked by common/rolloutPolicy.ts), else the built-in defaults. */
function policyFile(vars: EnvReader): PolicyFile {
  const file = vars.text('OTA_POLICY_FILE');
  if (!file) return DEFAULT_POLICY;
  try {
    const text = readFileSync(file, 'utf8');
    if (text.length > MAX_POLICY_BYTES) throw new Error(`larger than ${MAX_POLICY_BYTES} bytes`);
    return checkPolicy(JSON.parse(text) as PolicyFile);
  } catch (err) {
    vars.problems.push(`OTA_POLICY_FILE ${file}: ${err instanceof Error ? err.message : String(err)}`);
    return DEFAULT_POLICY;
  }
}

/** The HSM PIN is only needed by processes that sign (worker, key ceremony). */
export function requireHsmPin(config: Config): string {
  if (!config.hsm.pin)
    throw new ServerError('CONFIG_INVALID', 'OTA_HSM_PIN is not set (the worker signs with the HSM)');
  return config.hsm.pin;
}

/** Host, port and TLS of an object storage URL. */
function endpointOf(url: URL): Endpoint {
  return {
    endPoint: url.hostname,
    port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
    useSSL: url.protocol === 'https:',
  };
}
