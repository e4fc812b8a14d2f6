#!/usr/bin/env node
import { existsSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { InputError } from '../common/errors';
import { parseDuration } from '../common/validation';
import { loadConfig, type Config } from '../infra/config';
import { Storage } from '../infra/storage';
import { describeTally, simulateFleet } from './fleet';
import { keys } from './keys';
import { createOutput, perPercent, progressBar, reportError, type Output } from './output';
import { createRelease, decideRelease, describeList, describeStatus, listReleases, OPS_ACTIONS, releaseAction, releaseStatus, resolveChannel, targetStats, type OpsAction } from './releases';
import { channelPolicy, planSteps } from '../common/policy';
import type { RolloutStep } from '../common/release';
import { loadPolicy } from '../infra/policy';
import { describeMetadataStatus, readMetadataStatus } from './metadata';
import { connectClient } from './temporal';

const USAGE = `ota: operate Enigm OTA releases

  ota release create --artifact FILE --version SEMVER --hardware ID[,ID] --channel NAME
                     [--rollback-index N] [--plan NAME | --security | --steps 10,50,100 --bake 30s]
  ota release list     [--channel NAME] [--stage STAGE]
  ota release reject   VERSION [--channel NAME] --approver NAME [--comment TEXT]
  ota release promote  VERSION [--channel NAME] [--reason TEXT]
  ota release abort    VERSION [--channel NAME] [--reason TEXT]
  ota release status   VERSION [--channel NAME]
  ota release approve  VERSION [--channel NAME] --approver NAME [--comment TEXT]
  ota release pause    VERSION [--channel NAME] [--reason TEXT]
  ota release resume   VERSION [--channel NAME] [--reason TEXT]
  ota release rollback VERSION [--channel NAME] [--reason TEXT] [--to EARLIER-VERSION]

--channel may be left out when only one channel has that version.
  ota metadata status (each role's version and expiry; the freshness schedule)
  ota keys init      [--root-keys 3 --root-threshold 2 --release-keys 3 --release-threshold 2]
                     (key ceremony: HSM keys, offline roots, first metadata; idempotent)
  ota keys list      [REPOSITORY]          (each role's keys, threshold and where the keys are)
  ota keys add       REPOSITORY ROLE       (a new key: in the HSM, or an offline file for root)
  ota keys revoke    REPOSITORY ROLE KEYID (refused if it would leave fewer keys than the threshold)
  ota keys threshold REPOSITORY ROLE N
  ota keys rotate    REPOSITORY ROLE       (replace every key of the role; root: new offline keys)
                     Root changes take [--root-key FILE ...] (default: the ceremony's offline folder).
                     REPOSITORY: release | rollout; ROLE: root | targets | snapshot | timestamp
  ota fleet simulate --devices N [--channel NAME] [--hardware ID] [--from SEMVER]
                     [--until SEMVER] [--timeout 5m] [--interval 1s] [--fail-rate 0.1]

Every command takes --json (one JSON document on stdout) and --as NAME (operator identity).
Configuration comes from the environment; after \`npm start\` the CLI reads var/stack.env.
Exit codes: 0 ok, 1 failed, 2 invalid input.`;

const OPTIONS = {
  artifact: { type: 'string' },
  version: { type: 'string' },
  hardware: { type: 'string' },
  channel: { type: 'string' },
  'rollback-index': { type: 'string' },
  steps: { type: 'string' },
  bake: { type: 'string' },
  plan: { type: 'string' },
  security: { type: 'boolean' },
  stage: { type: 'string' },
  'fail-rate': { type: 'string' },
  to: { type: 'string' },
  approver: { type: 'string' },
  comment: { type: 'string' },
  reason: { type: 'string' },
  devices: { type: 'string' },
  from: { type: 'string' },
  until: { type: 'string' },
  timeout: { type: 'string' },
  interval: { type: 'string' },
  as: { type: 'string' },
  'root-key': { type: 'string', multiple: true },
  'root-keys': { type: 'string' },
  'root-threshold': { type: 'string' },
  'release-keys': { type: 'string' },
  'release-threshold': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Flags = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

export async function main(argv: string[]): Promise<number> {
  let json = argv.includes('--json');
  try {
    const { values: flags, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
    json = flags.json ?? false;
    if (flags.help || positionals.length === 0) {
      process.stdout.write(`${USAGE}\n`);
      return positionals.length === 0 && !flags.help ? 2 : 0;
    }
    const out = createOutput(json);
    const [group, command, ...rest] = positionals;
    const config = loadConfig(withStackEnv(process.env));
    if (group === 'release') return await release(config, command, rest, flags, out);
    if (group === 'fleet' && command === 'simulate') return await simulate(config, flags, out);
    if (group === 'keys') return await keys(config, command, rest, flags, out);
    if (group === 'metadata' && command === 'status') return await metadataStatus(config, out);
    throw new InputError(`unknown command: ${positionals.slice(0, 2).join(' ')} (ota --help)`);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) return reportError(new InputError((err as Error).message), json);
    return reportError(err, json);
  }
}

async function release(config: Config, command: string | undefined, rest: string[], flags: Flags, out: Output): Promise<number> {
  const actor = flags.as ?? process.env['OTA_USER'] ?? userInfo().username;
  const client = await connectClient(config);
  try {
    if (command === 'list') {
      const releases = await listReleases(client, { channel: flags.channel, stage: flags.stage });
      out.result(releases, () => describeList(releases));
      return 0;
    }
    if (command === 'create') {
      const { plan, steps } = chooseSteps(flags);
      const created = await createRelease(
        client,
        new Storage(config.minio),
        {
          artifact: required(flags.artifact, '--artifact'),
          version: required(flags.version, '--version'),
          hardwareIds: required(flags.hardware, '--hardware').split(','),
          channel: required(flags.channel, '--channel'),
          rollbackIndex: flags['rollback-index'] === undefined ? 0 : Number(flags['rollback-index']),
          plan,
          steps,
          security: flags.security ?? false,
          createdBy: actor,
        },
        perPercent((sent, total) => out.progress(`uploading ${progressBar(sent, total)}`)),
      );
      out.result(created, () => `release ${created.releaseId} started; see ota release status ${flags.version} --channel ${flags.channel}`);
      return 0;
    }
    const version = required(rest[0] ?? flags.version, 'VERSION');
    const channel = await resolveChannel(client, version, flags.channel);
    let status;
    if (command === 'status') status = await releaseStatus(client, channel, version);
    else if (command === 'approve' || command === 'reject') {
      status = await decideRelease(client, channel, version, command, { approver: flags.approver ?? actor, comment: flags.comment ?? flags.reason });
    } else if (OPS_ACTIONS.includes(command as OpsAction)) {
      if (flags.to !== undefined && command !== 'rollback') throw new InputError('--to is for rollback only');
      status = await releaseAction(client, channel, version, command as OpsAction, { actor, reason: flags.reason, to: flags.to });
    } else throw new InputError(`unknown release command: ${command ?? ''} (ota --help)`);
    const devices = status.target ? await targetStats(config, status.target.name).catch(() => undefined) : undefined;
    const view = { ...status, devices };
    out.result(view, () => describeStatus(status, devices));
    return 0;
  } finally {
    await client.connection.close();
  }
}

async function simulate(config: Config, flags: Flags, out: Output): Promise<number> {
  const tally = await simulateFleet(
    config,
    {
      devices: Number(required(flags.devices, '--devices')),
      hardwareId: flags.hardware ?? 'devkit-a',
      channel: flags.channel ?? 'stable',
      fromVersion: flags.from ?? '0.0.0',
      untilVersion: flags.until,
      timeoutMs: parseDuration(flags.timeout ?? '5m'),
      intervalMs: parseDuration(flags.interval ?? '1s'),
      idPrefix: 'sim-',
      failRate: flags['fail-rate'] === undefined ? undefined : Number(flags['fail-rate']),
    },
    (t) => out.progress(describeTally(t)),
  );
  out.result(tally, () => `summary: ${describeTally(tally)}`);
  return flags.until && !tally.done ? 1 : 0;
}

async function metadataStatus(config: Config, out: Output): Promise<number> {
  const client = await connectClient(config);
  try {
    const report = await readMetadataStatus(client, config);
    out.result(report, () => describeMetadataStatus(report));
    return report.healthy ? 0 : 1;
  } finally {
    await client.connection.close();
  }
}

/** A named plan from the policy (the channel's by default), or custom --steps with no health gate. */
function chooseSteps(flags: Flags): { plan: string; steps: RolloutStep[] } {
  const policy = loadPolicy();
  if (flags.steps !== undefined) {
    const bakeTimeMs = parseDuration(flags.bake ?? '30s');
    const steps = flags.steps.split(',').map((p) => ({ percent: Number(p), bakeTimeMs, minDevices: 0, maxFailureRate: 1, gate: 'auto' as const }));
    return { plan: 'custom', steps };
  }
  const plan = flags.plan ?? (flags.security ? 'security' : channelPolicy(policy, required(flags.channel, '--channel')).plan);
  return { plan, steps: planSteps(policy, plan) };
}

function required(value: string | undefined, name: string): string {
  if (value === undefined || value === '') throw new InputError(`${name} is required (ota --help)`);
  return value;
}

/** After `npm start`, the stack's settings live in <OTA_HOME>/stack.env; real env wins. */
function withStackEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const home = resolve(env['OTA_HOME'] ?? join(__dirname, '..', '..', 'var'));
  const file = join(home, 'stack.env');
  if (!existsSync(file)) return env;
  const merged: NodeJS.ProcessEnv = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) merged[line.slice(0, i)] = line.slice(i + 1);
  }
  return { ...merged, ...env };
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
