import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import {
  ApiRequestError,
  BUCKET_COUNT,
  defaultLimits,
  defaultRetry,
  type DeviceAgent,
  type DeviceConfig,
  isRetryable,
  OtaError,
  retryDelayMs,
  type RetryPolicy,
  retryPolicy,
  rolloutBucket,
  type VerifiedTarget,
} from '@enigm-ota/client-sdk';

import { InputError } from '../common/errors';
import { urlPath } from '../common/urlPath';
import { checkPattern, checkVersion } from '../common/validation';
import { configInCode } from '../device/agent/config';
import { silentLog } from '../device/agent/log';
import { AgentProgram, type CycleRecord } from '../device/agent/program';
import { AdminApiClient } from '../infra/adminApiClient';
import type { Config } from '../infra/config';
import { rootFile } from '../trust/ceremony';

export interface SimulateOptions {
  devices: number;
  hardwareId: string;
  channel: string;
  fromVersion: string;
  /** Stop once every device runs this version. */
  untilVersion?: string;
  /** Also required before stopping (checked after each round), e.g. the release is stable. */
  stopWhen?: () => Promise<boolean>;
  timeoutMs: number;
  intervalMs: number;
  idPrefix: string;
  /** Share of devices (0..1, chosen by device id) whose new version fails its health check. */
  failRate?: number;
}

export interface FleetTally {
  rounds: number;
  elapsedMs: number;
  versions: Record<string, number>;
  installs: number;
  refusals: Record<string, number>;
  /**
   * Failed cycles since the start, by kind (`unreachable`, `HTTP 503`, or the SDK's code); each
   * device retries after its backoff.
   */
  errors: Record<string, number>;
  /** Devices whose last cycle waits for a release (install window, readiness, network), by code. */
  waiting: Record<string, number>;
  done: boolean;
}

const MAX_SIMULATED_DEVICES = 10_000;

export type TrustedRoots = DeviceConfig['trustedRoots'];

/** What a device gets at the factory: the ceremony's trusted roots and the fleet CA, never the API's word. */
export interface FactoryKit {
  trustedRoots: TrustedRoots;
  fleetCaPem: string;
  /** The transparency log's verifier key, when the stack runs a log (its ceremony wrote the file). */
  transparencyLog?: DeviceConfig['transparencyLog'];
}

async function loadTrustedRoots(config: Config): Promise<TrustedRoots> {
  return { release: await readFile(rootFile(config, 'release')), rollout: await readFile(rootFile(config, 'rollout')) };
}

export async function loadFactoryKit(config: Config, trustedRoots?: TrustedRoots): Promise<FactoryKit> {
  return {
    trustedRoots: trustedRoots ?? (await loadTrustedRoots(config)),
    fleetCaPem: await readFile(config.identity.fleetCaCert, 'utf8'),
    ...(config.transparency &&
      existsSync(config.transparency.keyFile) && { transparencyLog: await logTrust(config.transparency) }),
  };
}

/** The log's key and every configured witness, all required: what the factory pins on a device. */
async function logTrust(t: NonNullable<Config['transparency']>): Promise<NonNullable<FactoryKit['transparencyLog']>> {
  const witnesses = await Promise.all(t.witnessKeyFiles.map(async (f) => (await readFile(f, 'utf8')).trim()));
  return { key: (await readFile(t.keyFile, 'utf8')).trim(), witnesses, quorum: witnesses.length };
}

export interface SimulatedDevice {
  deviceId: string;
  hardwareId: string;
  channel: string;
  stateDir: string;
  /** Where the device sends requests (default: the stack's API). */
  apiUrl?: string;
  /** Whether (or when) the new version boots healthy: the A/B installer's simulated boot. */
  healthy?: (target: VerifiedTarget) => boolean | Promise<boolean>;
  initialState?: DeviceConfig['initialState'];
  limits?: DeviceConfig['limits'];
  retry?: DeviceConfig['retry'];
  /** The device's clock (tests move it on to reach certificate renewal). */
  now?: DeviceConfig['now'];
  /** Only for a device that has no certificate yet. */
  enrollmentToken?: string;
  groups?: string[];
  tags?: Record<string, string>;
  attestation?: DeviceConfig['attestation'];
}

/**
 * A simulated device ready to run: an operator (the API's admin side) issues its one-time
 * enrollment token unless it already holds a certificate; the device enrolls on its first cycle.
 */
export async function provisionDevice(
  config: Config,
  provisioner: { api: AdminApiClient; kit: FactoryKit },
  device: SimulatedDevice,
): Promise<DeviceAgent> {
  return (await provisionProgram(config, provisioner, device)).agent;
}

async function provisionProgram(
  config: Config,
  { api, kit }: { api: AdminApiClient; kit: FactoryKit },
  device: SimulatedDevice,
): Promise<AgentProgram> {
  let enrollmentToken = device.enrollmentToken;
  if (!enrollmentToken && !existsSync(join(device.stateDir, 'identity', 'device.pem'))) {
    const grant = {
      deviceId: device.deviceId,
      hardwareId: device.hardwareId,
      channel: device.channel,
      groups: device.groups ?? [],
      tags: device.tags ?? {},
    };
    const issue = () => api.send<{ token: string }>('POST', '/v1/admin/devices/tokens', grant);
    const issued = await issue().catch(async (err: { code?: string }) => {
      // The device lost its folder (a fresh simulation): the old identity goes before a new one.
      if (err.code !== 'ALREADY_EXISTS') throw err;
      await api.send('POST', urlPath`/v1/admin/devices/${device.deviceId}/revoke`, {
        reason: 'simulated device re-provisioned',
      });
      return issue();
    });
    enrollmentToken = issued.token;
  }
  return simulatedProgram(config, kit, { ...device, enrollmentToken });
}

/** One simulated device: the real SDK with a folder of its own and the reference A/B installer in `system/`. */
export function simulatedDevice(config: Config, kit: FactoryKit, device: SimulatedDevice): DeviceAgent {
  return simulatedProgram(config, kit, device).agent;
}

/**
 * A simulated device as the `enigm-ota-agent` program runs one (device/agent/program.ts), with
 * the reference installer whose boot is the simulation's health answer, and no log lines.
 */
function simulatedProgram(config: Config, kit: FactoryKit, device: SimulatedDevice): AgentProgram {
  const agentConfig = configInCode({
    apiUrl: device.apiUrl ?? config.api.url,
    deviceId: device.deviceId,
    hardwareId: device.hardwareId,
    channel: device.channel,
    stateDir: device.stateDir,
    installer: { backend: 'reference', referenceDir: join(device.stateDir, 'system') },
    factory: device.initialState
      ? { version: device.initialState.currentVersion, rollbackIndex: device.initialState.rollbackIndex }
      : undefined,
    // The SDK's own defaults: simulations and tests are timed on them.
    health: { deadlineSec: defaultLimits.healthWindowMs / 1000 },
    poll: { intervalSec: defaultRetry.pollIntervalMs / 1000 },
    // The groups it is enrolled in: which signed install windows apply to it.
    groups: device.groups ?? [],
  });
  return new AgentProgram(agentConfig, {
    provisioned: {
      trustedRoots: kit.trustedRoots,
      fleetCaPem: kit.fleetCaPem,
      enrollmentToken: device.enrollmentToken,
      ...(kit.transparencyLog && { transparencyLog: kit.transparencyLog }),
    },
    log: silentLog,
    overrides: {
      boot: (target) => (device.healthy ? device.healthy(target) : true),
      now: device.now,
      attestation: device.attestation,
      retry: device.retry,
      limits: device.limits,
    },
  });
}

/**
 * N devices, each the real SDK with its own folder, polling the API in rounds. Every
 * device verifies and installs on its own; the tally is what the devices themselves say.
 */
export async function simulateFleet(
  config: Config,
  options: SimulateOptions,
  onRound?: (t: FleetTally) => void | Promise<void>,
): Promise<FleetTally> {
  checkSimulation(options);
  const programs = await provisionFleet(config, options);
  const policy = retryPolicy();
  const fleet: FleetDevice[] = programs.map((program) => ({
    program,
    version: options.fromVersion,
    failed: 0,
    notBefore: 0,
  }));
  const started = Date.now();
  const tally: FleetTally = {
    rounds: 0,
    elapsedMs: 0,
    versions: {},
    installs: 0,
    refusals: {},
    errors: {},
    waiting: {},
    done: false,
  };
  for (;;) {
    const now = Date.now();
    await mapLimited(
      fleet.filter((d) => d.notBefore <= now),
      8,
      (d) => cycle(d, policy, tally),
    );
    tally.rounds += 1;
    tally.versions = {};
    tally.waiting = {};
    for (const d of fleet) {
      tally.versions[d.version] = (tally.versions[d.version] ?? 0) + 1;
      if (d.waitingFor) tally.waiting[d.waitingFor] = (tally.waiting[d.waitingFor] ?? 0) + 1;
    }
    tally.elapsedMs = Date.now() - started;
    const allThere = options.untilVersion === undefined || tally.versions[options.untilVersion] === options.devices;
    tally.done =
      (options.untilVersion !== undefined || options.stopWhen !== undefined) &&
      allThere &&
      (options.stopWhen ? await options.stopWhen() : true);
    await onRound?.(tally);
    if (tally.done || tally.elapsedMs >= options.timeoutMs) return tally;
    await new Promise((r) => setTimeout(r, options.intervalMs));
  }
}

function checkSimulation(options: SimulateOptions): void {
  if (!Number.isInteger(options.devices) || options.devices < 1 || options.devices > MAX_SIMULATED_DEVICES) {
    throw new InputError(`--devices must be 1..${MAX_SIMULATED_DEVICES}`);
  }
  checkPattern('hardwareId', options.hardwareId);
  checkPattern('channel', options.channel);
  checkVersion(options.fromVersion);
  if (options.untilVersion) checkVersion(options.untilVersion);
  if (options.failRate !== undefined && !(options.failRate >= 0 && options.failRate <= 1))
    throw new InputError('--fail-rate must be between 0 and 1');
}

/** Devices provisioned 8 at a time through one admin API client, each as `deviceOf` describes it. */
export async function provisionDevices(
  config: Config,
  ids: string[],
  deviceOf: (deviceId: string) => SimulatedDevice,
): Promise<DeviceAgent[]> {
  return (await provisionPrograms(config, ids, deviceOf)).map((p) => p.agent);
}

async function provisionPrograms(
  config: Config,
  ids: string[],
  deviceOf: (deviceId: string) => SimulatedDevice,
): Promise<AgentProgram[]> {
  const kit = await loadFactoryKit(config);
  const api = AdminApiClient.fromConfig(config);
  return mapLimited(ids, 8, (id) => provisionProgram(config, { api, kit }, deviceOf(id))).finally(() => api.close());
}

/** Every device of the simulation; `failRate` of them fail their health check. */
function provisionFleet(config: Config, options: SimulateOptions): Promise<AgentProgram[]> {
  const ids = Array.from({ length: options.devices }, (_, i) => `${options.idPrefix}${String(i + 1).padStart(4, '0')}`);
  return provisionPrograms(config, ids, (deviceId) => ({
    deviceId,
    hardwareId: options.hardwareId,
    channel: options.channel,
    stateDir: join(config.home, 'devices', deviceId),
    healthy: () => rolloutBucket('simulated-health', deviceId) >= (options.failRate ?? 0) * BUCKET_COUNT,
    initialState: { currentVersion: options.fromVersion, rollbackIndex: 0 },
    // One attempt per cycle: the rounds below schedule a device's retries with the SDK's
    // backoff, so a device waiting out an outage holds none of the lanes the others use.
    retry: { maxAttempts: 1 },
  }));
}

interface FleetDevice {
  program: AgentProgram;
  /** The version the device last said it runs. */
  version: string;
  /** The code of the wait its last cycle reported, if it waits for a release. */
  waitingFor?: string;
  /** Failed cycles in a row, and when the device may try again (ms since the epoch). */
  failed: number;
  notBefore: number;
}

/** One device's cycle, as the agent program runs it; a failure is counted and the device backs off, the fleet goes on. */
async function cycle(d: FleetDevice, policy: RetryPolicy, tally: FleetTally): Promise<void> {
  const r = await d.program.cycle();
  d.waitingFor = r.status === 'waiting' ? (r.code ?? 'WAITING') : undefined;
  if (r.error === undefined) {
    d.failed = 0;
    if (r.version) d.version = r.version;
    count(tally, r);
    return;
  }
  const kind = errorKind(r.error);
  tally.errors[kind] = (tally.errors[kind] ?? 0) + 1;
  // Other errors (a refusal the next round repeats) wait the backoff's cap: no tight loop.
  const delay = isRetryable(r.error) ? retryDelayMs({ policy }, d.failed, r.error) : policy.capMs;
  d.failed += 1;
  d.notBefore = Date.now() + delay;
}

export function errorKind(err: unknown): string {
  if (err instanceof ApiRequestError) return err.status === undefined ? 'unreachable' : `HTTP ${err.status}`;
  return err instanceof OtaError ? err.code : 'other';
}

function count(t: FleetTally, r: CycleRecord): void {
  if (r.status === 'installed') t.installs += 1;
  if (r.status === 'refused' && r.code) t.refusals[r.code] = (t.refusals[r.code] ?? 0) + 1;
}

/** `fn` over `items`, at most `limit` at a time; the results in the items' order. */
export async function mapLimited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  });
  await Promise.all(lanes);
  return out;
}

export function describeTally(t: FleetTally): string {
  const versions = Object.entries(t.versions)
    .map(([v, n]) => `${v}: ${n}`)
    .join(' · ');
  const refusals = Object.entries(t.refusals)
    .map(([c, n]) => `${c}: ${n}`)
    .join(' · ');
  const errors = Object.entries(t.errors)
    .map(([k, n]) => `${k}: ${n}`)
    .join(' · ');
  const waiting = Object.entries(t.waiting)
    .map(([c, n]) => `${c}: ${n}`)
    .join(' · ');
  return `round ${t.rounds} · ${(t.elapsedMs / 1000).toFixed(0)}s · versions ${versions} · installs ${t.installs}${waiting ? ` · waiting ${waiting}` : ''}${refusals ? ` · refused ${refusals}` : ''}${errors ? ` · failed ${errors}` : ''}`;
}
