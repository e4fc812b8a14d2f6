import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { compareSemver } from '@enigm-ota/client-sdk';

import { perPercent, progressBar } from '../cli/output';
import type { ReleaseStatus } from '../common/release';
import { describeGate } from '../common/statusWords';
import { releaseQuery } from '../common/temporalNames';
import { approveRelease, createRelease, releaseStatus, waitForStatus } from '../control/releases';
import { connectClient } from '../control/temporal';
import type { Config } from '../infra/config';
import { Storage } from '../infra/storage';
import { describeTally, simulateFleet } from '../simulator/fleet';
import { DEMO_PROFILE, stackUp } from './lib/stack';

const CHANNEL = 'demo';
const HARDWARE = 'devkit-a';
const DEVICES = 50;

/**
 * `npm start`: the embedded stack, then a demo release travelling from a build file to
 * 50 simulated devices, approved by a demo release owner. The stack keeps running.
 */
async function main(): Promise<void> {
  // OTA_TRACES=1: Jaeger beside the stack, and the API and worker trace into it.
  const traces = process.env['OTA_TRACES'] === '1';
  const config = await stackUp(DEMO_PROFILE, { log: say, traces });
  const client = await connectClient(config);
  try {
    const version = await nextDemoVersion(client);
    await createDemoRelease(config, { client, version });
    await waitForStatus(client, { channel: CHANNEL, version }, (s) => s.stage === 'approval');
    say('release signed, registered and validated; waiting for approval');
    await approveRelease(
      client,
      { channel: CHANNEL, version },
      { approver: 'demo-release-owner', comment: 'demo approval' },
    );
    say(`approved by demo-release-owner; ${DEVICES} simulated devices poll the API`);
    const { tally, stuck } = await rollOutToDemoFleet(config, { client, version });
    const final = await releaseStatus(client, { channel: CHANNEL, version });
    say(`release ${version}: ${final.stage}; ${tally.versions[version] ?? 0}/${DEVICES} devices run it`);
    if (stuck) {
      say(`the devices cannot converge on ${version}: ${stuck}`);
      say(`see: npm run ota -- release status ${version} --channel ${CHANNEL}`);
      process.exitCode = 1;
    }
    sayWhereToLook(config, version, traces);
  } finally {
    await client.connection.close();
  }
}

function say(line: string): void {
  console.log(`\x1b[1m[start]\x1b[0m ${line}`);
}

type Demo = { client: Awaited<ReturnType<typeof connectClient>>; version: string };

/** A 4 MiB build of random bytes, uploaded with progress, released with a short demo plan. */
async function createDemoRelease(config: Config, { client, version }: Demo): Promise<void> {
  const artifact = join(config.home, 'demo', `firmware-${version}.bin`);
  await mkdir(join(config.home, 'demo'), { recursive: true });
  await writeFile(artifact, randomBytes(4 * 1024 * 1024));
  say(`creating release ${version} on channel ${CHANNEL} from ${artifact}`);
  await createRelease(
    { client, storage: new Storage(config.minio) },
    {
      artifact,
      version,
      hardwareIds: [HARDWARE],
      channel: CHANNEL,
      rollbackIndex: 1,
      // A short demo plan: each step bakes 8 s and needs healthy reports before the next.
      plan: 'demo',
      steps: [
        { percent: 10, bakeTimeMs: 8000, minDevices: 1, maxFailureRate: 0.2, gate: 'auto' },
        { percent: 50, bakeTimeMs: 8000, minDevices: 5, maxFailureRate: 0.2, gate: 'auto' },
        { percent: 100, bakeTimeMs: 0, minDevices: 0, maxFailureRate: 0.2, gate: 'auto' },
      ],
      security: false,
      createdBy: 'demo-release-manager',
    },
    perPercent((sent, total) => process.stdout.write(`\r  upload ${progressBar(sent, total)}`)),
  );
  process.stdout.write('\n');
}

/** The simulated fleet polls until the release is stable or stuck in a state no device can change. */
async function rollOutToDemoFleet(
  config: Config,
  { client, version }: Demo,
): Promise<{ tally: Awaited<ReturnType<typeof simulateFleet>>; stuck: string | undefined }> {
  let stuck: string | undefined;
  const tally = await simulateFleet(
    config,
    {
      devices: DEVICES,
      hardwareId: HARDWARE,
      channel: CHANNEL,
      fromVersion: '0.0.0',
      untilVersion: version,
      // Stable, or a state no device polling can change (only an operator can): stop waiting.
      stopWhen: async () => {
        const s = await releaseStatus(client, { channel: CHANNEL, version });
        stuck = whyStuck(s);
        return s.stage === 'stable' || stuck !== undefined;
      },
      timeoutMs: 5 * 60_000,
      intervalMs: 1000,
      idPrefix: `demo-${version}-`,
    },
    async (t) => {
      const s = await releaseStatus(client, { channel: CHANNEL, version }).catch(() => undefined);
      process.stdout.write(`\r\x1b[2K  ${s ? `${s.stage} ${s.percent}% · ` : ''}${describeTally(t)}`);
    },
  );
  process.stdout.write('\n');
  return { tally, stuck };
}

function sayWhereToLook(config: Config, version: string, traces: boolean): void {
  say(`Temporal UI:  ${config.temporal.uiUrl}/namespaces/${config.temporal.namespace}/workflows`);
  const jaeger = `http://127.0.0.1:${DEMO_PROFILE.traces.uiPort}`;
  say(
    traces
      ? `traces:       ${jaeger}/api/traces?service=enigm-ota-api (Jaeger's query API)`
      : 'traces:       off (npm run stop, then OTA_TRACES=1 npm start runs Jaeger and traces into it)',
  );
  say(
    `dashboard:    ${config.api.url}/dashboard/ (sign in with the ops token: OTA_TOKEN in ${join(config.home, 'stack.env')})`,
  );
  say(`device API:   ${config.api.url}/v1/openapi.json`);
  if (config.transparency)
    say(
      `history:      npm run ota -- log verify (the transparency log at ${config.transparency.url}, key ${config.transparency.keyFile})`,
    );
  say(`try:          npm run ota -- release status ${version} --channel ${CHANNEL}`);
  say('the stack keeps running; stop it with: npm run stop');
}

/** Each run releases the next patch version, so `npm start` can be run again and again. */
async function nextDemoVersion(client: Awaited<ReturnType<typeof connectClient>>): Promise<string> {
  let latest = '1.0.0';
  let found = false;
  for await (const wf of client.workflow.list({ query: releaseQuery({ channel: CHANNEL }) })) {
    const v = wf.workflowId.slice(`release-${CHANNEL}-`.length);
    if (/^\d+\.\d+\.\d+$/.test(v) && (!found || compareSemver(v, latest) > 0)) latest = v;
    found = true;
  }
  if (!found) return latest;
  const [major, minor, patch] = latest.split('.').map(Number);
  return `${major}.${minor}.${(patch ?? 0) + 1}`;
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? `${err.name}: ${err.message}` : err);
  process.exitCode = 1;
});

/** Why the release cannot reach every device without an operator, or undefined while it still can. */
function whyStuck(s: ReleaseStatus): string | undefined {
  if (s.lifecycle === 'ended')
    return `the release ended (${s.stage}${s.error ? `: ${s.error.code} ${s.error.message}` : ''})`;
  if (s.paused) return `the rollout is paused. ${describeGate(s)}`;
  if (s.withdrawn) return 'the release was withdrawn';
  return undefined;
}
