import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

import {
  createTransport,
  type DeviceAgent,
  type DeviceIdentity,
  enroll,
  type Fetch,
  type InstallReport,
  loadIdentity,
  type PollOffer,
  type Receipt,
  saveIdentity,
  signReceipt,
} from '@enigm-ota/client-sdk';
import type { Client } from '@temporalio/client';

import type { ReleaseStatus } from '../../common/release';
import { approveRelease, createRelease as createThroughControl, waitForStatus } from '../../control/releases';
import { connectClient } from '../../control/temporal';
import { AdminApiClient } from '../../infra/adminApiClient';
import { type Config, loadConfig } from '../../infra/config';
import { Storage } from '../../infra/storage';
import { stackToken, TEST_PROFILE } from '../../scripts/lib/stack';
import { loadFactoryKit, provisionDevice, type SimulatedDevice, type TrustedRoots } from '../../simulator/fleet';
import { DIST } from '../paths';

const run = promisify(execFile);

export function testConfig(): Config {
  return loadConfig(process.env);
}

let client: Client | undefined;
export async function temporalClient(): Promise<Client> {
  client ??= await connectClient(testConfig());
  return client;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** The parsed stdout (`--json`), undefined when it is not JSON: cast it to the command's answer. */
  json: unknown;
}

/** What the CLI prints with --json, and the API answers, when it refuses: `{ error: { code, message } }`. */
export interface ErrorAnswer {
  error: { code: string; message: string; requestId?: string };
}

/** The refusal an HTTP response carries (its body read as an ErrorAnswer). */
export async function refusalOf(res: { json(): Promise<unknown> }): Promise<ErrorAnswer['error']> {
  return ((await res.json()) as ErrorAnswer).error;
}

/** The API's answer to `POST /v1/poll`. */
export interface PollAnswer {
  offer: PollOffer | null;
}

/** Runs the real `ota` CLI as a separate process, as the stack's `ops` operator would. */
export async function ota(...args: string[]): Promise<CliResult> {
  return otaWith(process.env, args);
}

/** The CLI with a given operator token (e.g. the stack's bootstrap admin's). */
export async function otaWithToken(token: string, ...args: string[]): Promise<CliResult> {
  return otaWith({ ...process.env, OTA_TOKEN: token }, args);
}

/** The CLI as another operator (created on first use, with the given roles). */
export async function otaAs(operator: string, ...args: string[]): Promise<CliResult> {
  return otaWith({ ...process.env, OTA_TOKEN: await operatorToken(operator) }, args);
}

async function otaWith(env: NodeJS.ProcessEnv, args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [join(DIST, 'cli', 'main.js'), ...args], { env });
    return { code: 0, stdout, stderr, json: parse(stdout) };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr, json: parse(e.stdout) };
  }
}

const tokens = new Map<string, string>();

/** The stack went down: its operators' tokens mean nothing to the next one (the device tier starts one per file). */
export function forgetOperatorTokens(): void {
  tokens.clear();
}
const ALL_BUT_ADMIN = ['release-owner', 'operator', 'viewer'];

/** A token for a named operator, made by the stack's admin through the admin API. */
export async function operatorToken(name: string, roles: string[] = ALL_BUT_ADMIN): Promise<string> {
  // One operator per name and stack (a test may run a stack of its own): the roles of its first use stay.
  const home = process.env['OTA_HOME'] ?? TEST_PROFILE.home;
  const key = `${home}\n${name}`;
  if (!tokens.has(key)) {
    const admin = await adminApi(await stackToken({ ...TEST_PROFILE, home }, 'admin'));
    try {
      const created = await admin.send<{ token: string }>('POST', '/v1/admin/operators', { name, roles });
      tokens.set(key, created.token);
    } finally {
      await admin.close();
    }
  }
  return tokens.get(key)!;
}

/** The admin API over HTTPS (fleet CA), as `ops` unless another token is given. */
export function adminApi(token = process.env['OTA_TOKEN']): Promise<AdminApiClient> {
  // A missing fleet CA (or a bad config) rejects the promise rather than throwing.
  return Promise.resolve().then(() => AdminApiClient.fromConfig(testConfig(), token));
}

/** GET on the admin side as `ops` (fleet numbers, stats). */
export async function apiGet<T = unknown>(path: string): Promise<T> {
  const api = await adminApi();
  try {
    return await api.get<T>(path);
  } finally {
    await api.close();
  }
}

/**
 * A device's mutual-TLS transport for raw requests: the identity in the device's test
 * folder (shared with `device()`), enrolled on first use.
 */
export async function deviceFetch(deviceId: string, channel = 'raw', hardwareId = 'devkit-a'): Promise<Fetch> {
  return createTransport(await deviceIdentity(deviceId, channel, hardwareId));
}

/**
 * A report as `deviceId` sends it: with a report id, and its receipt signed by the device's
 * own key (enrolled by `deviceFetch` before, or here).
 */
export async function signedReport<R extends Omit<InstallReport, 'reportId'>>(
  report: R & { reportId?: string },
): Promise<R & { reportId: string; receipt: Receipt }> {
  const { keyPem } = await deviceIdentity(report.deviceId);
  const withId = { ...report, reportId: report.reportId ?? randomBytes(8).toString('hex') };
  return { ...withId, receipt: signReceipt(withId, {}, keyPem) };
}

/** The identity of a test device: enrolled through the API the first time it is asked for. */
export async function deviceIdentity(
  deviceId: string,
  channel = 'raw',
  hardwareId = 'devkit-a',
): Promise<DeviceIdentity> {
  const config = testConfig();
  const dir = join(config.home, 'test-devices', deviceId, 'identity');
  // A device of a simulated fleet (ota fleet simulate) keeps its identity in devices/.
  let identity = (await loadIdentity(dir)) ?? (await loadIdentity(join(config.home, 'devices', deviceId, 'identity')));
  if (!identity) {
    const caPem = await readFile(config.identity.fleetCaCert, 'utf8');
    const api = await adminApi();
    try {
      const { token } = await api.send<{ token: string }>('POST', '/v1/admin/devices/tokens', {
        deviceId,
        hardwareId,
        channel,
      });
      identity = await enroll(
        { apiUrl: config.api.url, transport: createTransport({ caPem }) },
        { token, deviceId, currentVersion: '0.0.0' },
        caPem,
      );
    } finally {
      await api.close();
    }
    await saveIdentity(dir, identity);
  }
  return identity;
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export async function artifactFile(name: string, bytes: number | Buffer = 256 * 1024): Promise<string> {
  const dir = join(testConfig().home, 'builds');
  await mkdir(dir, { recursive: true });
  const file = join(dir, name);
  await writeFile(file, typeof bytes === 'number' ? randomBytes(bytes) : bytes);
  return file;
}

export interface ReleaseOptions {
  hardware?: string;
  steps?: string;
  bake?: string;
  minDevices?: number;
  maxFailureRate?: number;
  rollbackIndex?: number;
  plan?: string;
  as?: string;
  /** The build's size (256 KiB of random bytes unless given), or its content. */
  bytes?: number | Buffer;
  /** More `ota release create` flags (targeting: --protected, --target-group G...). */
  flags?: string[];
}

/** Creates a release through the CLI (upload and start); returns once its workflow runs. */
export async function createRelease(channel: string, version: string, opts: ReleaseOptions = {}): Promise<void> {
  const created = await tryCreateRelease(channel, version, opts);
  if (created.code !== 0) throw new Error(`ota release create failed: ${created.stdout}${created.stderr}`);
}

/** `ota release create` as createRelease runs it, for a test that expects it may be refused. */
export async function tryCreateRelease(
  channel: string,
  version: string,
  opts: ReleaseOptions = {},
): Promise<CliResult> {
  const file = await artifactFile(`fw-${channel}-${version}.bin`, opts.bytes);
  const creator = opts.as ?? 'test-creator';
  // plan '' means: no plan flags, the channel's own plan applies. Custom steps here have no
  // health gate unless a test asks for one (--min-devices 0 says so explicitly).
  const gate = ['--min-devices', String(opts.minDevices ?? 0), '--max-failure-rate', String(opts.maxFailureRate ?? 1)];
  const plan =
    opts.plan !== undefined
      ? opts.plan
        ? ['--plan', opts.plan]
        : []
      : ['--steps', opts.steps ?? '100', '--bake', opts.bake ?? '0s', ...gate];
  return otaAs(
    creator,
    'release',
    'create',
    '--artifact',
    file,
    '--version',
    version,
    '--channel',
    channel,
    '--hardware',
    opts.hardware ?? 'devkit-a',
    ...plan,
    '--rollback-index',
    String(opts.rollbackIndex ?? 1),
    ...(opts.flags ?? []),
    '--json',
  );
}

/**
 * A release whose 50% step bakes an hour, with a history limit of its own (the CLI does not
 * take one): started through control, as the API would, for tests of continue-as-new.
 */
export async function createLongBake(
  channel: string,
  version: string,
  { createdBy, historyLimit }: { createdBy: string; historyLimit: number },
): Promise<void> {
  await createThroughControl(
    { client: await temporalClient(), storage: new Storage(testConfig().minio) },
    {
      artifact: await artifactFile(`${channel}-${version}.bin`),
      version,
      hardwareIds: ['devkit-a'],
      channel,
      rollbackIndex: 1,
      plan: 'custom',
      steps: [
        { percent: 50, bakeTimeMs: 3_600_000, minDevices: 0, maxFailureRate: 1, gate: 'auto' },
        { percent: 100, bakeTimeMs: 0, minDevices: 0, maxFailureRate: 1, gate: 'auto' },
      ],
      security: false,
      createdBy,
      historyLimit,
    },
  );
}

/** Creates a release through the CLI and waits until it asks for approval. */
export async function releaseAwaitingApproval(
  channel: string,
  version: string,
  opts: ReleaseOptions = {},
): Promise<ReleaseStatus> {
  await createRelease(channel, version, opts);
  return waitForStatus(await temporalClient(), { channel, version }, (s) => s.stage === 'approval');
}

/** A status predicate: the step at `percent` is published (signed and in storage), so a device polling now is offered it. */
export function stepPublished(percent: number): (s: ReleaseStatus) => boolean {
  return (s) => s.percent === percent && s.published?.percent === percent;
}

export async function approve(channel: string, version: string): Promise<ReleaseStatus> {
  return approveRelease(await temporalClient(), { channel, version }, { approver: 'test-owner', comment: 'tests' });
}

/** A provisioned test device with its own folder (today's roots unless given); options reach the SDK as they are. */
export async function device(
  id: string,
  channel: string,
  options: Partial<Omit<SimulatedDevice, 'deviceId' | 'channel'>> = {},
  roots?: TrustedRoots,
): Promise<DeviceAgent> {
  const config = testConfig();
  const api = await adminApi();
  try {
    return await provisionDevice(
      config,
      { api, kit: await loadFactoryKit(config, roots) },
      {
        deviceId: id,
        channel,
        hardwareId: 'devkit-a',
        stateDir: join(config.home, 'test-devices', id),
        ...options,
      },
    );
  } finally {
    await api.close();
  }
}

/** A device request: sent as the device the body names (a probe identity for bodies without one). */
export async function postJson<T = unknown>(path: string, body: unknown): Promise<{ status: number; body: T }> {
  const b = (body ?? {}) as { deviceId?: unknown; channel?: unknown; hardwareId?: unknown };
  const as =
    typeof b.deviceId === 'string' && /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(b.deviceId)
      ? b.deviceId
      : 'bad-input-probe';
  // Enrolled for the channel and hardware it polls with (eligibility goes by the enrollment).
  const valid = (v: unknown, re: RegExp) => (typeof v === 'string' && re.test(v) ? v : undefined);
  const fetch = await deviceFetch(
    as,
    valid(b.channel, /^[a-z0-9][a-z0-9-]{0,31}$/),
    valid(b.hardwareId, /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
  );
  const res = await fetch(`${testConfig().api.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  // The answer's body as the caller expects it (undefined when it is not JSON).
  return { status: res.status, body: (await res.json().catch(() => undefined)) as T };
}

export async function closeTemporalClient(): Promise<void> {
  await client?.connection.close();
  client = undefined;
}
