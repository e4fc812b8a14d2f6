import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { ServerError } from '../../common/errors';
import { searchAttributeKeys } from '../../common/temporalNames';
import { type Config, loadConfig } from '../../infra/config';
import { Hsm } from '../../infra/hsm';
import { newToken, tokenHash } from '../../infra/operators';
import { Storage } from '../../infra/storage';
import { runCeremony } from '../../trust/ceremony';
import { ensureLogKey } from '../../trust/logKey';
import { startLogServer, startWitness, witnessKeyFile } from './logServer';
import { httpOk, logContains, portOpen, ProcessManager } from './processes';
import { startTraceBackend, type TracePorts } from './traceBackend';

/** Where an embedded stack keeps its state, and its ports (the demo and the tests differ). */
export interface StackProfile {
  home: string;
  temporalPort: number;
  uiPort: number;
  minioPort: number;
  minioConsolePort: number;
  apiPort: number;
  /** The worker's Temporal SDK metrics (Prometheus). */
  workerMetricsPort: number;
  /** The trace backend, when the stack runs one (StackOptions.traces). */
  traces: TracePorts;
  /** The transparency log (scripts/tlog), and its witness (`ota log witness`). */
  tlogPort: number;
  witnessPort: number;
}

const ROOT = resolve(__dirname, '..', '..', '..');

export const DEMO_PROFILE: StackProfile = {
  home: join(ROOT, 'var'),
  temporalPort: 7233,
  uiPort: 8233,
  minioPort: 9000,
  minioConsolePort: 9001,
  apiPort: 8080,
  workerMetricsPort: 9464,
  traces: { otlpPort: 4318, uiPort: 16686 },
  tlogPort: 7300,
  witnessPort: 7310,
};

// Suites with different offsets run at once (npm test runs two tiers side by side): each
// offset has its own ports and its own home.
export const TEST_PORT_OFFSET = Number(process.env['OTA_TEST_PORT_OFFSET'] ?? 0);

export const TEST_PROFILE: StackProfile = {
  home: join(ROOT, 'var', TEST_PORT_OFFSET === 0 ? 'test' : `test-${TEST_PORT_OFFSET}`),
  temporalPort: 17233 + TEST_PORT_OFFSET,
  uiPort: 18233 + TEST_PORT_OFFSET,
  minioPort: 19000 + TEST_PORT_OFFSET,
  minioConsolePort: 19001 + TEST_PORT_OFFSET,
  apiPort: 18080 + TEST_PORT_OFFSET,
  workerMetricsPort: 19464 + TEST_PORT_OFFSET,
  traces: { otlpPort: 19318 + TEST_PORT_OFFSET, uiPort: 19686 + TEST_PORT_OFFSET },
  tlogPort: 19700 + TEST_PORT_OFFSET,
  witnessPort: 19710 + TEST_PORT_OFFSET,
};

const TOKEN_LABEL = 'enigm-ota';
/** S-23: the fleet CA's key has a token of its own, so the API's PIN opens nothing else. */
const CA_TOKEN_LABEL = 'enigm-ota-ca';
const SERVICES = ['api-2', 'worker-2', 'api', 'worker', 'tlog', 'witness', 'minio', 'temporal', 'jaeger'] as const;

interface Secrets {
  hsmPin: string;
  hsmSoPin: string;
  fleetCaPin: string;
  fleetCaSoPin: string;
  minioSecret: string;
  /** What the API and worker append to the transparency log with. */
  tlogWriteToken: string;
  /** Operator tokens the stack bootstraps: admin, ops (the CLI's default), worker (reads, records release events). */
  tokens: Record<'admin' | 'ops' | 'worker', string>;
}

/** The operators every embedded stack starts with; more are added with `ota operator add`. */
const BOOTSTRAP: Array<{ name: keyof Secrets['tokens']; roles: string[] }> = [
  { name: 'admin', roles: ['admin'] },
  { name: 'ops', roles: ['release-owner', 'operator', 'viewer'] },
  { name: 'worker', roles: ['worker'] },
];

/** Demo secrets are random per machine, kept in <home> with owner-only permissions. */
async function secrets(home: string): Promise<Secrets> {
  const file = join(home, 'secrets.json');
  if (existsSync(file)) {
    const existing = JSON.parse(await readFile(file, 'utf8')) as Partial<Secrets>;
    if (existing.tokens && existing.fleetCaPin && existing.hsmPin && existing.minioSecret) {
      // A stack made before the transparency log gets its token now; nothing else changes.
      if (existing.tlogWriteToken) return existing as Secrets;
      const upgraded = { ...existing, tlogWriteToken: randomBytes(24).toString('base64url') } as Secrets;
      await writeFile(file, JSON.stringify(upgraded), { mode: 0o600 });
      return upgraded;
    }
    // The stack's tokens, MinIO data and HSM tokens were made with these: new ones would lock them out.
    throw new ServerError('CONFIG_INVALID', `${file} is incomplete; delete ${home} to start the stack over`);
  }
  const s: Secrets = {
    hsmPin: randomBytes(8).toString('hex'),
    hsmSoPin: randomBytes(8).toString('hex'),
    fleetCaPin: randomBytes(8).toString('hex'),
    fleetCaSoPin: randomBytes(8).toString('hex'),
    minioSecret: randomBytes(18).toString('base64url'),
    tlogWriteToken: randomBytes(24).toString('base64url'),
    tokens: { admin: newToken('ota'), ops: newToken('ota'), worker: newToken('ota') },
  };
  await mkdir(home, { recursive: true });
  await writeFile(file, JSON.stringify(s), { mode: 0o600 });
  return s;
}

/** The environment every component of this stack runs with (also written to <home>/stack.env). */
export async function stackEnv(p: StackProfile): Promise<Record<string, string>> {
  const s = await secrets(p.home);
  return {
    OTA_HOME: p.home,
    TEMPORAL_ADDRESS: `127.0.0.1:${p.temporalPort}`,
    TEMPORAL_UI_URL: `http://127.0.0.1:${p.uiPort}`,
    MINIO_URL: `http://127.0.0.1:${p.minioPort}`,
    MINIO_ACCESS_KEY: 'enigm-ota',
    MINIO_SECRET_KEY: s.minioSecret,
    SOFTHSM2_CONF: join(p.home, 'softhsm', 'softhsm2.conf'),
    OTA_HSM_TOKEN: TOKEN_LABEL,
    OTA_HSM_PIN: s.hsmPin,
    OTA_FLEET_CA_TOKEN: CA_TOKEN_LABEL,
    OTA_FLEET_CA_PIN: s.fleetCaPin,
    OTA_API_PORT: String(p.apiPort),
    OTA_API_URL: `https://127.0.0.1:${p.apiPort}`,
    OTA_TOKEN: s.tokens.ops,
    OTA_BOOTSTRAP_OPERATORS: JSON.stringify(BOOTSTRAP.map((o) => ({ ...o, tokenSha256: tokenHash(s.tokens[o.name]) }))),
    OTA_WORKER_METRICS_PORT: String(p.workerMetricsPort),
    OTA_TLOG_URL: `http://127.0.0.1:${p.tlogPort}`,
    OTA_TLOG_WRITE_TOKEN: s.tlogWriteToken,
    OTA_TLOG_WITNESS_KEYS: witnessKeyFile(p.home) + '.vkey',
    // Manufacturer CAs whose attestation keys the API trusts (absent until a manufacturer is added).
    OTA_MANUFACTURER_CA: join(p.home, 'ceremony', 'manufacturer-roots.pem'),
  };
}

/** An operator token of this stack (tests act as admin to add operators). */
export async function stackToken(p: StackProfile, name: keyof Secrets['tokens']): Promise<string> {
  return (await secrets(p.home)).tokens[name];
}

export interface StackOptions {
  log?: (line: string) => void;
  /** Extra environment for the API and worker (tests shorten caches). */
  extraEnv?: Record<string, string>;
  /**
   * API replicas and workers (default 1 each). With 2, `api-2` listens on the profile's
   * apiPort + 1 and `worker-2` runs beside `worker`: the scale-out shape, which needs a
   * shared PostgreSQL (DATABASE_URL). Each worker reaches either replica (OTA_API_URL lists
   * both, its own first). Services already running keep the environment they started with.
   */
  replicas?: 1 | 2;
  /** Extra environment for the second replica only (tests give it a long rollout cache). */
  replicaEnv?: Record<string, string>;
  /**
   * Runs the trace backend (Jaeger) and has the API and worker export their traces to it. Off by
   * default: then neither process traces anything.
   */
  traces?: boolean;
}

/** Starts (or finds running) every service of the embedded stack; idempotent. */
export async function stackUp(p: StackProfile, options: StackOptions = {}): Promise<Config> {
  const log = options.log ?? (() => undefined);
  const env: Record<string, string> = { ...(await stackEnv(p)), ...options.extraEnv };
  const pm = new ProcessManager(p.home);
  if (options.traces) env['OTEL_EXPORTER_OTLP_ENDPOINT'] = (await startTraceBackend(pm, p.traces, log)).otlpUrl;
  const replicas = options.replicas ?? 1;
  if (replicas !== 1 && replicas !== 2)
    throw new ServerError('CONFIG_INVALID', `replicas must be 1 or 2, got ${String(replicas)}`);
  // PGlite is one process's folder: a second API would open a store the first one owns.
  if (replicas > 1 && !env['DATABASE_URL'])
    throw new ServerError('CONFIG_INVALID', 'API replicas share the fleet store: set DATABASE_URL (PostgreSQL)');
  await writeFile(
    join(p.home, 'stack.env'),
    Object.entries(env)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n') + '\n',
    { mode: 0o600 },
  );
  await startTemporal(pm, p, log);
  await startMinio(pm, { p, env }, log);
  await ensureToken(p.home, env);
  const config = loadConfig(env);
  await startLog(pm, { p, config, env }, log);
  await keyCeremony(config, env, log);
  const workerToken = (await secrets(p.home)).tokens.worker;
  for (let i = 1; i <= replicas; i++) {
    await startReplica(pm, { p, env, replicaEnv: options.replicaEnv, replicas, replica: i, workerToken }, log);
  }
  return config;
}

async function startTemporal(pm: ProcessManager, p: StackProfile, log: (line: string) => void): Promise<void> {
  await mkdir(join(p.home, 'temporal'), { recursive: true });
  const temporal = await pm.start({
    name: 'temporal',
    command: 'temporal',
    args: [
      'server',
      'start-dev',
      '--db-filename',
      join(p.home, 'temporal', 'temporal.db'),
      // Every write the server acknowledged is on disk before it answers: a killed server, or a
      // machine that lost power, restarts with every release exactly where its workers left it.
      '--sqlite-pragma',
      'journal_mode=wal',
      '--sqlite-pragma',
      'synchronous=full',
      '--ip',
      '127.0.0.1',
      '--port',
      String(p.temporalPort),
      '--ui-port',
      String(p.uiPort),
      '--log-level',
      'warn',
      ...searchAttributeKeys.flatMap((k) => ['--search-attribute', `${k.name}=${cliType(k.type)}`]),
    ],
    env: {},
    ready: async () => (await portOpen(p.temporalPort)) && (await httpOk(`http://127.0.0.1:${p.uiPort}`)),
  });
  log(`temporal ${temporal} (UI http://127.0.0.1:${p.uiPort})`);
}

async function startMinio(
  pm: ProcessManager,
  { p, env }: { p: StackProfile; env: Record<string, string> },
  log: (line: string) => void,
): Promise<void> {
  await mkdir(join(p.home, 'minio', 'data'), { recursive: true });
  const minio = await pm.start({
    name: 'minio',
    command: 'minio',
    args: [
      'server',
      join(p.home, 'minio', 'data'),
      '--address',
      `127.0.0.1:${p.minioPort}`,
      '--console-address',
      `127.0.0.1:${p.minioConsolePort}`,
      '--quiet',
    ],
    env: {
      MINIO_ROOT_USER: env['MINIO_ACCESS_KEY']!,
      MINIO_ROOT_PASSWORD: env['MINIO_SECRET_KEY']!,
      MINIO_BROWSER: 'on',
    },
    ready: () => httpOk(`http://127.0.0.1:${p.minioPort}/minio/health/live`),
  });
  log(`minio ${minio} (http://127.0.0.1:${p.minioPort})`);
}

/** The log's key (made once in the signing token), then the log: the ceremony's files are logged too. */
async function startLog(
  pm: ProcessManager,
  { p, config, env }: { p: StackProfile; config: Config; env: Record<string, string> },
  log: (line: string) => void,
): Promise<void> {
  const hsm = Hsm.open(config.hsm, env['OTA_HSM_PIN']!);
  try {
    await ensureLogKey(hsm, config.transparency!);
  } finally {
    hsm.close();
  }
  const witness = await startWitness(
    pm,
    { p, keyFile: witnessKeyFile(p.home), logKeyFile: config.transparency!.keyFile },
    log,
  );
  await startLogServer(pm, { home: p.home, port: p.tlogPort, config, pin: env['OTA_HSM_PIN']!, witness }, log);
}

/** The key ceremony (idempotent): what it made is said once, when it made it. */
async function keyCeremony(config: Config, env: Record<string, string>, log: (line: string) => void): Promise<void> {
  const hsm = Hsm.open(config.hsm, env['OTA_HSM_PIN']!);
  try {
    const ceremony = await runCeremony(config, { hsm, storage: new Storage(config.minio) });
    for (const repo of ceremony.created) log(`key ceremony: ${repo} root created (${ceremony.rootFiles[repo]})`);
    for (const f of ceremony.offlineKeyFiles)
      log(`key ceremony: offline key written to ${f}: move it to offline storage`);
    if (ceremony.fleetCaCreated)
      log(`key ceremony: fleet CA created (${ceremony.fleetCa}); devices trust it for the API`);
    if (ceremony.bundleSigningCreated)
      log(`key ceremony: RAUC keyring created (${ceremony.bundleKeyring}); devices check bundles against it`);
  } finally {
    hsm.close();
  }
}

/**
 * Worker and API number `replica` (1 or 2): the second listens on apiPort + 1, each reaches both
 * APIs, its own first.
 */
async function startReplica(
  pm: ProcessManager,
  r: {
    p: StackProfile;
    env: Record<string, string>;
    replicaEnv: Record<string, string> | undefined;
    replicas: number;
    replica: number;
    workerToken: string;
  },
  log: (line: string) => void,
): Promise<void> {
  const { p, env, replicas, replica } = r;
  const name = replica === 1 ? '' : `-${replica}`;
  const apiPort = p.apiPort + replica - 1;
  const own = `https://127.0.0.1:${apiPort}`;
  // The fleet CA's certificate names hosts (OTA_API_TLS_HOSTS), not ports: it serves every replica.
  const all = Array.from({ length: replicas }, (_, j) => `https://127.0.0.1:${p.apiPort + j}`);
  const urls = replicas === 1 ? [env['OTA_API_URL']!] : [own, ...all.filter((u) => u !== own)];
  const replicaEnv =
    replica === 1
      ? env
      : {
          ...env,
          ...r.replicaEnv,
          OTA_API_PORT: String(apiPort),
          OTA_WORKER_METRICS_PORT: String(p.workerMetricsPort + replica - 1),
        };
  const worker = await pm.start({
    name: `worker${name}`,
    command: process.execPath,
    args: [join(ROOT, 'dist', 'worker', 'main.js')],
    // The worker signs metadata: the signing keys' PIN, not the fleet CA's.
    env: { ...replicaEnv, OTA_API_URL: urls.join(','), OTA_TOKEN: r.workerToken, OTA_FLEET_CA_PIN: '' },
    ready: () => logContains(pm.logFile(`worker${name}`), 'worker ready'),
  });
  log(`worker${name} ${worker} (Temporal SDK metrics http://127.0.0.1:${p.workerMetricsPort + replica - 1}/metrics)`);
  const api = await pm.start({
    name: `api${name}`,
    command: process.execPath,
    args: [join(ROOT, 'dist', 'api', 'main.js')],
    // S-23: the fleet CA's PIN only; empty, not absent, so a parent's environment cannot add the other.
    env: { ...replicaEnv, OTA_API_URL: urls[0]!, OTA_HSM_PIN: '' },
    // It listens only once everything is set up (HTTPS with the fleet CA's certificate).
    ready: () => portOpen(apiPort),
  });
  log(`api${name} ${api} (${own}, metrics /metrics; JSON logs in ${pm.logFile(`api${name}`)})`);
}

export async function stackDown(p: StackProfile, log: (line: string) => void = () => undefined): Promise<void> {
  const pm = new ProcessManager(p.home);
  for (const name of SERVICES) if (await pm.stop(name)) log(`stopped ${name}`);
}

/** The SoftHSM2 tokens in <home>/softhsm (signing keys; the fleet CA's key), each created once. */
async function ensureToken(home: string, env: Record<string, string>): Promise<void> {
  const dir = join(home, 'softhsm', 'tokens');
  await mkdir(dir, { recursive: true });
  await writeFile(
    env['SOFTHSM2_CONF']!,
    `directories.tokendir = ${dir}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`,
  );
  const childEnv = { ...process.env, SOFTHSM2_CONF: env['SOFTHSM2_CONF'] };
  const s = await secrets(home);
  for (const [label, pin, soPin] of [
    [TOKEN_LABEL, s.hsmPin, s.hsmSoPin],
    [CA_TOKEN_LABEL, s.fleetCaPin, s.fleetCaSoPin],
  ] as const) {
    const slots = execFileSync('softhsm2-util', ['--show-slots'], { env: childEnv, encoding: 'utf8' });
    if (new RegExp(`Label:\\s+${label}\\s`).test(slots)) continue;
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', soPin], {
      env: childEnv,
      stdio: 'ignore',
    });
  }
}

function cliType(type: string): string {
  const names: Record<string, string> = {
    KEYWORD: 'Keyword',
    DOUBLE: 'Double',
    BOOL: 'Bool',
    INT: 'Int',
    TEXT: 'Text',
    DATETIME: 'Datetime',
  };
  return names[type] ?? type;
}
