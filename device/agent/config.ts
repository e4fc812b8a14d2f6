import { isAbsolute } from 'node:path';

import { readCapped } from '@enigm-ota/client-sdk';

import {
  CONFIG_KEYS,
  type HealthCommand,
  type InstallerBackend,
  type KeySpec,
  type LogLevel,
  MAX_ARG_LENGTH,
  MAX_ARGS,
  MAX_CONFIG_BYTES,
  MAX_HEALTH_COMMANDS,
  MAX_NAMES,
  NAME,
} from './configSchema';

/** The agent's configuration once checked against the table in configSchema.ts, defaults filled in. */
export interface AgentConfig {
  apiUrl: string;
  deviceId: string;
  hardwareId: string;
  channel: string;
  stateDir: string;
  identity: { fleetCaFile: string; enrollmentTokenFile: string; releaseRootFile: string; rolloutRootFile: string };
  transparencyLog: { keyFile?: string; witnessesFile?: string; quorum: number };
  factory: { version: string; rollbackIndex: number };
  installer: { backend: InstallerBackend; referenceDir?: string; raucBinary: string; raucSystemConfig?: string };
  health: { commands: HealthCommand[]; deadlineSec: number };
  groups: string[];
  readiness: { command?: string[]; timeoutSec: number };
  network: { metered: boolean; meteredCommand?: string[]; deltasOnly: boolean; dailyByteBudget?: number };
  poll: { intervalSec: number; jitter: number };
  hooks: { afterInstall?: string[]; afterRefusal?: string[]; timeoutSec: number };
  limits: { maxArtifactBytes: number; maxApiResponseBytes: number; fetchTimeoutSec: number };
  log: { level: LogLevel };
}

export const DEFAULT_CONFIG_FILE = '/etc/enigm-ota/agent.json';

/** A configuration the agent refuses to start with: every problem, each naming its key. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

/** Reads and checks the file (at most MAX_CONFIG_BYTES); ConfigError names the file and the key. */
export async function readAgentConfig(file: string): Promise<AgentConfig> {
  let text: string;
  try {
    text = (await readCapped(file, MAX_CONFIG_BYTES)).toString('utf8');
  } catch (err) {
    throw new ConfigError([`${file}: ${(err as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError([`${file}: not JSON (${(err as Error).message})`]);
  }
  try {
    return agentConfigFrom(raw);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(err.problems.map((p) => `${file}: ${p}`));
    throw err;
  }
}

const SPECS = new Map(CONFIG_KEYS.map((s) => [s.key, s]));

/** Checks a parsed configuration against the key table; unknown keys are errors (a typo must not pass silently). */
export function agentConfigFrom(raw: unknown): AgentConfig {
  const values = new Map<string, unknown>();
  const problems: string[] = [];
  if (!isObject(raw)) throw new ConfigError(['the configuration must be a JSON object']);
  collect(raw, '', { values, problems });
  for (const spec of CONFIG_KEYS) {
    if (spec.required && !values.has(spec.key) && !problems.some((p) => p.startsWith(`${spec.key}: `)))
      problems.push(`${spec.key}: missing (required)`);
  }
  if (problems.length) throw new ConfigError(problems);
  return build((key) => (values.has(key) ? values.get(key) : SPECS.get(key)?.default));
}

function collect(
  obj: Record<string, unknown>,
  prefix: string,
  out: { values: Map<string, unknown>; problems: string[] },
) {
  for (const [name, value] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${name}` : name;
    const spec = SPECS.get(key);
    if (spec) {
      const problem = check(spec, value);
      if (problem) out.problems.push(`${key}: ${problem}`);
      else out.values.set(key, value);
    } else if (CONFIG_KEYS.some((s) => s.key.startsWith(`${key}.`))) {
      if (isObject(value)) collect(value, key, out);
      else out.problems.push(`${key}: must be an object`);
    } else {
      out.problems.push(`${key}: unknown key`);
    }
  }
}

/** What is wrong with a value, or undefined. */
function check(spec: KeySpec, value: unknown): string | undefined {
  switch (spec.type) {
    case 'string':
      if (typeof value !== 'string') return 'must be a string';
      return spec.pattern && !spec.pattern.test(value) ? `must match ${String(spec.pattern)}` : undefined;
    case 'url':
      return checkUrl(value);
    case 'path':
      return typeof value === 'string' && isAbsolute(value) && value.length <= MAX_ARG_LENGTH && !value.includes('\0')
        ? undefined
        : 'must be an absolute path';
    case 'integer':
    case 'number':
      return checkNumber(spec, value);
    case 'boolean':
      return typeof value === 'boolean' ? undefined : 'must be true or false';
    case 'names':
      return Array.isArray(value) &&
        value.length <= MAX_NAMES &&
        value.every((v) => typeof v === 'string' && NAME.test(v))
        ? undefined
        : `must be an array of at most ${MAX_NAMES} names matching ${String(NAME)}`;
    case 'enum':
      return spec.values?.includes(value as string) ? undefined : `must be one of ${spec.values?.join(', ')}`;
    case 'argv':
      return checkArgv(value);
    case 'commands':
      return checkCommands(value);
  }
}

function checkUrl(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > 2048) return 'must be a URL';
  try {
    const url = new URL(value);
    return url.protocol === 'https:' && !url.username && !url.password ? undefined : 'must be an https:// URL';
  } catch {
    return 'must be a URL';
  }
}

function checkNumber(spec: KeySpec, value: unknown): string | undefined {
  const integer = spec.type === 'integer';
  const ok =
    typeof value === 'number' &&
    (integer ? Number.isSafeInteger(value) : Number.isFinite(value)) &&
    value >= (spec.min ?? -Infinity) &&
    value <= (spec.max ?? Infinity);
  return ok ? undefined : `must be ${integer ? 'an integer' : 'a number'} in ${spec.min}..${spec.max}`;
}

function checkArgv(value: unknown): string | undefined {
  const ok =
    Array.isArray(value) &&
    value.length >= 1 &&
    value.length <= MAX_ARGS &&
    value.every((a) => typeof a === 'string' && a.length <= MAX_ARG_LENGTH && !a.includes('\0')) &&
    isAbsolute(value[0] as string);
  return ok
    ? undefined
    : `must be an array of 1..${MAX_ARGS} strings (at most ${MAX_ARG_LENGTH} characters), the first an absolute path`;
}

function checkCommands(value: unknown): string | undefined {
  if (!Array.isArray(value) || value.length > MAX_HEALTH_COMMANDS)
    return `must be an array of at most ${MAX_HEALTH_COMMANDS} commands`;
  for (const [i, c] of value.entries()) {
    if (!isObject(c)) return `[${i}] must be an object {"argv": [...], "timeoutSec": n}`;
    const extra = Object.keys(c).find((k) => k !== 'argv' && k !== 'timeoutSec');
    if (extra) return `[${i}].${extra}: unknown key`;
    const argv = checkArgv(c['argv']);
    if (argv) return `[${i}].argv ${argv}`;
    const t = c['timeoutSec'];
    if (t !== undefined && !(Number.isSafeInteger(t) && (t as number) >= 1 && (t as number) <= 3600))
      return `[${i}].timeoutSec must be an integer in 1..3600`;
  }
  return undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A configuration made in code (the simulator's devices): the given keys over the table's
 * defaults, without the file's checks, since nothing in it comes from outside.
 */
export function configInCode(
  given: Pick<AgentConfig, 'apiUrl' | 'deviceId' | 'hardwareId' | 'channel' | 'stateDir'> & {
    installer: Pick<AgentConfig['installer'], 'backend' | 'referenceDir'>;
    factory?: AgentConfig['factory'];
    health?: Partial<AgentConfig['health']>;
    poll?: Partial<AgentConfig['poll']>;
    groups?: string[];
  },
): AgentConfig {
  const defaults = build((key) => SPECS.get(key)?.default);
  return {
    ...defaults,
    ...given,
    installer: { ...defaults.installer, ...given.installer },
    factory: given.factory ?? defaults.factory,
    health: { ...defaults.health, ...given.health },
    poll: { ...defaults.poll, ...given.poll },
  };
}

/** The typed configuration; every key of the table is read here once (a unit test checks it). */
function build(get: (key: string) => unknown): AgentConfig {
  const s = (key: string) => get(key) as string;
  const n = (key: string) => get(key) as number;
  const argv = (key: string) => get(key) as string[] | undefined;
  const commands = (get('health.commands') as Array<{ argv: string[]; timeoutSec?: number }>).map((c) => ({
    argv: c.argv,
    timeoutSec: c.timeoutSec ?? 60,
  }));
  return {
    apiUrl: s('apiUrl'),
    deviceId: s('deviceId'),
    hardwareId: s('hardwareId'),
    channel: s('channel'),
    stateDir: s('stateDir'),
    identity: {
      fleetCaFile: s('identity.fleetCaFile'),
      enrollmentTokenFile: s('identity.enrollmentTokenFile'),
      releaseRootFile: s('identity.releaseRootFile'),
      rolloutRootFile: s('identity.rolloutRootFile'),
    },
    transparencyLog: {
      keyFile: get('transparencyLog.keyFile') as string | undefined,
      witnessesFile: get('transparencyLog.witnessesFile') as string | undefined,
      quorum: n('transparencyLog.quorum'),
    },
    factory: { version: s('factory.version'), rollbackIndex: n('factory.rollbackIndex') },
    installer: {
      backend: s('installer.backend') as InstallerBackend,
      referenceDir: get('installer.referenceDir') as string | undefined,
      raucBinary: s('installer.raucBinary'),
      raucSystemConfig: get('installer.raucSystemConfig') as string | undefined,
    },
    health: { commands, deadlineSec: n('health.deadlineSec') },
    groups: get('groups') as string[],
    readiness: { command: argv('readiness.command'), timeoutSec: n('readiness.timeoutSec') },
    network: {
      metered: get('network.metered') as boolean,
      meteredCommand: argv('network.meteredCommand'),
      deltasOnly: get('network.deltasOnly') as boolean,
      dailyByteBudget: get('network.dailyByteBudget') as number | undefined,
    },
    poll: { intervalSec: n('poll.intervalSec'), jitter: n('poll.jitter') },
    hooks: {
      afterInstall: argv('hooks.afterInstall'),
      afterRefusal: argv('hooks.afterRefusal'),
      timeoutSec: n('hooks.timeoutSec'),
    },
    limits: {
      maxArtifactBytes: n('limits.maxArtifactBytes'),
      maxApiResponseBytes: n('limits.maxApiResponseBytes'),
      fetchTimeoutSec: n('limits.fetchTimeoutSec'),
    },
    log: { level: s('log.level') as LogLevel },
  };
}
