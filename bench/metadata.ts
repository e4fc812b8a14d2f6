/**
 * Metadata per device at fleet scale. A live embedded stack's repositories
 * (partitioned, the default for new ones) are filled through the worker's own signing
 * activities (HSM keys, MinIO): releases spread over 20 channels and 50 hardware types, each signed into the release repository and published to 100%, retired
 * releases leaving as they go. One enrolled device (channel ch-00, hardware hw-00) refreshes
 * both repositories with the SDK's TrustedRepository through the API over mutual TLS, and we
 * count the bytes it downloads in four cases, at 100 and at 1,000 releases:
 *   - nothing changed;
 *   - a rollout step in another channel;
 *   - a rollout step in its own channel for other hardware;
 *   - a new release for its own channel and hardware.
 * It also times publishing one rollout step at 10 and at 1,000 releases (median of 5), and the
 * cost of one release (signed, registered, published to 100%, retiring the release it pushes
 * out of the partition's stable history) at 100 and at 1,000 releases: in a partition kept in
 * that steady state from the start (median of 5; target <= 1.2x), and over the fill itself (the
 * 100 releases after the 100 mark against the last 100), in milliseconds and in storage
 * requests.
 *
 *   OTA_TEST_PORT_OFFSET=130 bash scripts/node.sh dist/bench/metadata.js [--releases 1000] [--json]
 *
 * The stack lives in var/bench-metadata (made afresh each run) and is stopped at the end.
 */
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import {
  createTransport,
  defaultLimits,
  type Fetch,
  type RepositoryName,
  TrustedRepository,
} from '@enigm-ota/client-sdk';

import { publishRollout, registerRelease, signRelease } from '../activities/signAndPublish';
import { type ReleaseTarget, targetName } from '../common/release';
import { AdminApiClient } from '../infra/adminApiClient';
import { stackDown, type StackProfile, stackUp, TEST_PROFILE } from '../scripts/lib/stack';
import { loadFactoryKit, provisionDevice } from '../simulator/fleet';
import { createActivityDeps } from '../worker/deps';
import { intArg, report, type Row, timed } from './lib';

const PROFILE: StackProfile = { ...TEST_PROFILE, home: resolve(__dirname, '..', '..', 'var', 'bench-metadata') };
const CHANNELS = 20;
const HARDWARE = 50;
const OWN = { channel: 'ch-00', hardware: 'hw-00' };
/** A partition no release of the fill goes into, holding its steady state before it is measured. */
const STEADY = { channel: 'ch-03', hardware: 'hw-steady' };

type Deps = Awaited<ReturnType<typeof createActivityDeps>>;

const arg = (name: string, fallback: number) => intArg(name, fallback, 100, 10_000);

/** Release number `i`: channels and hardware types cycle, so every pair of them gets releases. */
function releaseTarget(
  i: number,
  channel = `ch-${String(i % CHANNELS).padStart(2, '0')}`,
  hardware = `hw-${String(i % HARDWARE).padStart(2, '0')}`,
): ReleaseTarget {
  const version = `1.${Math.floor(i / 100)}.${i % 100}`;
  const sha256 = i.toString(16).padStart(64, '0');
  return {
    name: targetName(channel, version, 'fw.bin'),
    length: 64 * 1024 * 1024,
    sha256,
    custom: { version, channel, hardwareIds: [hardware], rollbackIndex: 1 },
  };
}

/** Signed into the release repository (the release keys' threshold), then published at `percent`. */
async function release(deps: Deps, target: ReleaseTarget, percent = 100): Promise<void> {
  await registerRelease(deps, { staged: await signRelease(deps, { target }) });
  await step(deps, target, percent);
}

function step(deps: Deps, target: ReleaseTarget, percent: number): Promise<void> {
  return publishRollout(deps, {
    target,
    releaseId: `bench-${target.name}`,
    percent,
    paused: false,
    withdrawn: false,
    approvals: [{ approver: 'bench', at: new Date().toISOString() }],
  });
}

/** A device's view of both repositories, counting the bytes every refresh downloads. */
class CountingDevice {
  bytes = 0;
  private readonly repos: TrustedRepository[];

  constructor(apiUrl: string, transport: Fetch, dir: string, roots: Record<RepositoryName, Uint8Array | string>) {
    const counted: Fetch = async (url, init) => {
      const res = await transport(url, init);
      const body = new Uint8Array(await res.arrayBuffer());
      this.bytes += body.length;
      return new Response([204, 304].includes(res.status) ? null : body, {
        status: res.status,
        headers: { 'content-type': res.headers.get('content-type') ?? 'application/octet-stream' },
      });
    };
    const partition = `${OWN.channel}/${OWN.hardware}`;
    this.repos = (['release', 'rollout'] as RepositoryName[]).map((repo) => {
      TrustedRepository.provision(join(dir, repo), roots[repo]);
      return new TrustedRepository({
        name: repo,
        metadataDir: join(dir, repo),
        metadataBaseUrl: `${apiUrl}/v1/repos/${repo}/metadata/`,
        limits: defaultLimits,
        transport: counted,
        partition: {
          name: partition,
          baseUrl: `${apiUrl}/v1/repos/${repo}/p/${partition}/metadata/`,
        },
      });
    });
  }

  /** Bytes one refresh of both repositories downloads. */
  async refresh(): Promise<number> {
    const before = this.bytes;
    for (const r of this.repos) await r.refresh();
    return this.bytes - before;
  }
}

interface Measured {
  unchanged: number;
  otherChannel: number;
  otherHardware: number;
  ownRelease: number;
}

/** The four cases, on the current state; `next` numbers the releases it adds. */
async function measure(deps: Deps, device: CountingDevice, next: () => number): Promise<Measured> {
  const other = releaseTarget(next(), 'ch-01', 'hw-01');
  const sibling = releaseTarget(next(), OWN.channel, 'hw-01');
  await release(deps, other, 10);
  await release(deps, sibling, 10);
  await device.refresh();
  const unchanged = await device.refresh();
  await step(deps, other, 50);
  const otherChannel = await device.refresh();
  await step(deps, sibling, 50);
  const otherHardware = await device.refresh();
  const own = releaseTarget(next(), OWN.channel, OWN.hardware);
  await release(deps, own, 10);
  const ownRelease = await device.refresh();
  // Each goes on to stable, as rollouts do, so the partitions keep their steady size.
  for (const t of [other, sibling, own]) await step(deps, t, 100);
  return { unchanged, otherChannel, otherHardware, ownRelease };
}

/** Median time of publishing one rollout step of a release in a partition of its own channel. */
async function publishTime(deps: Deps, next: () => number): Promise<number> {
  const target = releaseTarget(next(), 'ch-02', 'hw-02');
  await release(deps, target, 1);
  const times: number[] = [];
  for (let p = 2; p <= 6; p++) times.push((await timed(() => step(deps, target, p))).ms);
  return times.sort((a, b) => a - b)[2]!;
}

/** Storage requests made through `storage` so far (every read, probe and write of metadata). */
function countRequests(storage: Deps['storage']): { count: number } {
  const counter = { count: 0 };
  for (const method of [
    'stat',
    'getVersioned',
    'putBytes',
    'putBytesIfAbsent',
    'putBytesIfMatch',
    'folders',
  ] as const) {
    const original = storage[method].bind(storage) as (...args: unknown[]) => Promise<unknown>;
    (storage as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
      counter.count++;
      return original(...args);
    };
  }
  return counter;
}

interface ReleaseCost {
  ms: number;
  requests: number;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** One release signed, registered and published to 100% in the steady partition, each retiring one: median of 5. */
async function steadyReleaseCost(deps: Deps, next: () => number, requests: { count: number }): Promise<ReleaseCost> {
  const costs: ReleaseCost[] = [];
  for (let k = 0; k < 5; k++) {
    const target = releaseTarget(next(), STEADY.channel, STEADY.hardware);
    const before = requests.count;
    const { ms } = await timed(() => release(deps, target));
    costs.push({ ms, requests: requests.count - before });
  }
  return { ms: median(costs.map((c) => c.ms)), requests: median(costs.map((c) => c.requests)) };
}

async function main(): Promise<void> {
  const total = arg('releases', 1000);
  const asJson = process.argv.includes('--json');
  const say = (line: string) => asJson || process.stdout.write(`${line}\n`);
  await stackDown(PROFILE);
  await rm(PROFILE.home, { recursive: true, force: true });
  const config = await stackUp(PROFILE, { log: (l) => say(`[stack] ${l}`), extraEnv: { OTA_ROLLOUT_CACHE_MS: '0' } });
  try {
    const deps = await createActivityDeps(config);
    try {
      const kit = await loadFactoryKit(config);
      const api = AdminApiClient.fromConfig(config);
      const agent = await provisionDevice(
        config,
        { api, kit },
        {
          deviceId: 'bench-meta',
          ...OWN,
          hardwareId: OWN.hardware,
          stateDir: join(PROFILE.home, 'device'),
        },
      );
      await api.close();
      const identity = (await agent.identity())!;
      const device = new CountingDevice(
        config.api.url,
        createTransport({ ...identity, caPem: kit.fleetCaPem }),
        join(PROFILE.home, 'device', 'bench-metadata'),
        kit.trustedRoots,
      );

      const requests = countRequests(deps.storage);
      let built = 0;
      const next = () => built++;
      /** Each release of the fill, by its number: time and storage requests. */
      const filled = new Map<number, ReleaseCost>();
      const fill = async (upTo: number) => {
        let stretch = Date.now();
        while (built < upTo) {
          const i = next();
          const before = requests.count;
          const { ms } = await timed(() => release(deps, releaseTarget(i)));
          filled.set(i, { ms, requests: requests.count - before });
          if (built % 100 === 0) {
            say(
              `${built} releases signed and published (the last 100 in ${((Date.now() - stretch) / 1000).toFixed(0)} s)`,
            );
            stretch = Date.now();
          }
        }
      };
      const fillCost = (from: number, to: number): ReleaseCost => {
        const costs = [...filled].filter(([i]) => i >= from && i < to).map(([, c]) => c);
        return { ms: median(costs.map((c) => c.ms)), requests: median(costs.map((c) => c.requests)) };
      };
      // The device's partition starts with the stable history it keeps (OTA_KEEP_STABLE_RELEASES),
      // so the 100-release case is already in the steady state a long-lived fleet is in.
      for (let k = 0; k < config.retention.keepStable; k++)
        await release(deps, releaseTarget(next(), OWN.channel, OWN.hardware));
      // One more than it keeps: from the next release on, each one retires one, as in a long-lived fleet.
      for (let k = 0; k <= config.retention.keepStable; k++)
        await release(deps, releaseTarget(next(), STEADY.channel, STEADY.hardware));
      await fill(10);
      const publishAt10 = await publishTime(deps, next);
      await fill(100);
      const at100 = await measure(deps, device, next);
      const steadyAt100 = await steadyReleaseCost(deps, next, requests);
      say(`at 100 releases: ${JSON.stringify({ ...at100, steady: steadyAt100 })}`);
      const afterMark = built;
      await fill(total);
      const at1000 = await measure(deps, device, next);
      const publishAtTotal = await publishTime(deps, next);
      const steadyAtTotal = await steadyReleaseCost(deps, next, requests);
      const fillAt100 = fillCost(afterMark, afterMark + 100);
      const fillAtTotal = fillCost(total - 100, total);
      say(`at ${total} releases: ${JSON.stringify(at1000)}`);

      const bytes = (key: keyof Measured, label: string, limit: number): Row => ({
        measure: `${label} (bytes per refresh)`,
        baseline: `${at100[key]} at 100`,
        ours: `${at1000[key]} at ${total}`,
        ratio: at1000[key] / at100[key],
        target: `<=${limit} B, <=1.1x`,
        met: at1000[key] <= limit && at1000[key] / at100[key] <= 1.1,
      });
      const rows: Row[] = [
        bytes('unchanged', 'nothing changed', 1024),
        bytes('otherChannel', 'a step in another channel', 2048),
        bytes('otherHardware', 'a step, own channel, other hw', 16 * 1024),
        bytes('ownRelease', 'a new release, own channel and hw', 16 * 1024),
        {
          measure: 'publish one rollout step (ms)',
          baseline: `${publishAt10.toFixed(0)} at 10`,
          ours: `${publishAtTotal.toFixed(0)} at ${total}`,
          ratio: publishAtTotal / publishAt10,
          target: '<=1.2x',
          met: publishAtTotal / publishAt10 <= 1.2,
        },
        {
          measure: 'one release, steady partition (ms)',
          baseline: `${steadyAt100.ms.toFixed(0)} at 100`,
          ours: `${steadyAtTotal.ms.toFixed(0)} at ${total}`,
          ratio: steadyAtTotal.ms / steadyAt100.ms,
          target: '<=1.2x',
          met: steadyAtTotal.ms / steadyAt100.ms <= 1.2,
        },
        {
          measure: 'one release, steady partition (storage requests)',
          baseline: `${steadyAt100.requests} at 100`,
          ours: `${steadyAtTotal.requests} at ${total}`,
          ratio: steadyAtTotal.requests / steadyAt100.requests,
          target: '<=1.2x',
          met: steadyAtTotal.requests / steadyAt100.requests <= 1.2,
        },
        {
          measure: 'one release of the fill, median of 100 (ms)',
          baseline: `${fillAt100.ms.toFixed(0)} after 100`,
          ours: `${fillAtTotal.ms.toFixed(0)} before ${total}`,
          ratio: fillAtTotal.ms / fillAt100.ms,
        },
        {
          measure: 'one release of the fill, median of 100 (storage requests)',
          baseline: `${fillAt100.requests} after 100`,
          ours: `${fillAtTotal.requests} before ${total}`,
          ratio: fillAtTotal.requests / fillAt100.requests,
        },
      ];
      report(
        `Metadata per device: ${total} releases over ${CHANNELS} channels and ${HARDWARE} hardware types, partitioned`,
        rows,
        asJson,
      );
    } finally {
      await deps.close();
    }
  } finally {
    await stackDown(PROFILE);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
