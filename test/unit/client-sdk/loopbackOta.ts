import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  AbSlotInstaller,
  type AbStep,
  type AgentStep,
  compareSemver,
  DELTA_FIELD,
  DELTA_FORMAT,
  type DeltaBinding,
  deltaTargetName,
  DeviceAgent,
  type DeviceConfig,
  type InstallReport,
  type InstallWindow,
  type PollRequest,
} from '@enigm-ota/client-sdk';
import { Metadata, MetaFile, Root, Snapshot, TargetFile, Targets, Timestamp } from '@tufjs/models';

import { buildDeltaFile } from '../../../infra/bsdiffSegments';
import { OfflineSigner, signMetadata } from '../../../trust/tufKeys';

export const CHANNEL = 'loop';
export const HARDWARE = 'devkit-a';
const EXPIRES = new Date(Date.now() + 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export interface Release {
  version: string;
  rollbackIndex: number;
  bytes: Buffer;
  /** Signed into its rollout entry. */
  windows?: InstallWindow[];
}

export const targetName = (version: string) => `${CHANNEL}/${version}/fw-${version}.bin`;
export const sha256Of = (r: Release) => sha(r.bytes);

/**
 * The device API on loopback, as client-sdk/src/apiClient.ts calls it: both signed TUF
 * repositories, poll (offers `offering` to devices running an older version), artifacts
 * by sha256 with Range, and reports. It records what devices asked and said.
 */
export interface LoopbackOta {
  url: string;
  roots: { release: string; rollout: string };
  offering: string | undefined;
  /** Reports answer HTTP 503 while set (the API is down for them). */
  failReports: boolean;
  polls: PollRequest[];
  reports: InstallReport[];
  /** One entry per artifact request: the Range header, or 'whole'. */
  downloads: string[];
  /** The sha256 each artifact request asked for, in order (a delta's or an image's). */
  fetched: string[];
  close(): Promise<void>;
}

/**
 * A delta update as the loopback repositories sign it: listed in `in` (both, for a genuine
 * one) under `name`, bound by `binding`; `served` replaces the bytes the server sends;
 * `refused` has the API refuse its download as it refuses a delta from a protected release.
 */
export interface LoopDelta {
  name: string;
  bytes: Buffer;
  binding: DeltaBinding;
  in: Array<'release' | 'rollout'>;
  served?: Buffer;
  refused?: boolean;
}

/** A genuine delta from one release to another, made as the worker makes them (infra/bsdiffSegments.ts). */
export async function makeDelta(from: Release, to: Release): Promise<LoopDelta> {
  const dir = await mkdtemp(join(tmpdir(), 'ota-loop-delta-'));
  try {
    await writeFile(join(dir, 'base'), from.bytes);
    await writeFile(join(dir, 'target'), to.bytes);
    await buildDeltaFile({
      base: join(dir, 'base'),
      target: join(dir, 'target'),
      work: join(dir, 'work'),
      out: join(dir, 'delta'),
    });
    const bytes = await readFile(join(dir, 'delta'));
    return {
      name: deltaTargetName(targetName(to.version), sha256Of(from)),
      bytes,
      binding: {
        format: DELTA_FORMAT,
        base: { sha256: sha256Of(from), length: from.bytes.length },
        target: { name: targetName(to.version), sha256: sha256Of(to), length: to.bytes.length },
      },
      in: ['release', 'rollout'],
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function startLoopbackOta(releases: Release[], deltas: LoopDelta[] = []): Promise<LoopbackOta> {
  const files = new Map<string, Buffer>();
  for (const repo of ['release', 'rollout'] as const) {
    for (const [name, bytes] of Object.entries(
      signedRepository(
        repo,
        releases,
        deltas.filter((d) => d.in.includes(repo)),
      ),
    ))
      files.set(`${repo}/${name}`, bytes);
  }
  const byDigest = new Map([
    ...releases.map((r) => [sha256Of(r), r.bytes] as const),
    ...deltas.map((d) => [sha(d.bytes), d.served ?? d.bytes] as const),
  ]);
  const refused = new Set(deltas.filter((d) => d.refused).map((d) => sha(d.bytes)));
  const ota: LoopbackOta = {
    url: '',
    roots: {
      release: files.get('release/1.root.json')!.toString(),
      rollout: files.get('rollout/1.root.json')!.toString(),
    },
    offering: undefined,
    failReports: false,
    polls: [],
    reports: [],
    downloads: [],
    fetched: [],
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const meta = /^\/v1\/repos\/(release|rollout)\/metadata\/([\w.]+)$/.exec(path);
    const artifact = /^\/v1\/artifacts\/([0-9a-f]{64})$/.exec(path);
    if (meta) {
      const body = files.get(`${meta[1]}/${meta[2]}`);
      res.writeHead(body ? 200 : 404).end(body);
    } else if (artifact && refused.has(artifact[1]!)) {
      ota.fetched.push(artifact[1]!);
      res
        .writeHead(403, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: { code: 'ARTIFACT_REFUSED', message: 'delta from a protected release' } }));
    } else if (artifact && byDigest.has(artifact[1]!)) {
      const bytes = byDigest.get(artifact[1]!)!;
      ota.downloads.push(req.headers.range ?? 'whole');
      ota.fetched.push(artifact[1]!);
      const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
      res.writeHead(from > 0 ? 206 : 200, { 'content-length': String(bytes.length - from) }).end(bytes.subarray(from));
    } else if (req.method === 'POST' && (path === '/v1/poll' || path === '/v1/reports')) {
      void readJson(req).then((body) => {
        if (path === '/v1/reports' && ota.failReports) {
          res.writeHead(503).end('{}');
          return;
        }
        if (path === '/v1/reports') {
          ota.reports.push(body as InstallReport);
          res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ accepted: true }));
          return;
        }
        const poll = body as PollRequest;
        ota.polls.push(poll);
        const v = ota.offering;
        const offer = v && compareSemver(v, poll.currentVersion) > 0 ? { targetName: targetName(v), version: v } : null;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ offer }));
      });
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  ota.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return ota;
}

/** A device as the fleet simulator builds one: the real agent and the reference A/B installer in `system/`. */
export function loopbackDevice(
  ota: Pick<LoopbackOta, 'url' | 'roots'>,
  stateDir: string,
  options: {
    cut?: (step: AgentStep | AbStep) => void;
    boot?: () => Promise<boolean>;
    healthWindowMs?: number;
    device?: Pick<DeviceConfig, 'now' | 'groups' | 'readiness' | 'network' | 'progress'>;
  } = {},
): DeviceAgent {
  return new DeviceAgent({
    apiUrl: ota.url,
    deviceId: 'cut-device-1',
    hardwareId: HARDWARE,
    channel: CHANNEL,
    stateDir,
    trustedRoots: ota.roots,
    installer: new AbSlotInstaller(join(stateDir, 'system'), {
      boot: options.boot ?? (() => Promise.resolve(true)),
      step: options.cut,
    }),
    limits: options.healthWindowMs ? { healthWindowMs: options.healthWindowMs } : {},
    step: options.cut,
    ...options.device,
  });
}

/** The version of the slot the device boots and that slot's image, read without any recovery. */
export async function bootedSlot(
  stateDir: string,
  releases: Release[],
): Promise<{ version: string | undefined; complete: boolean }> {
  const { slot, version } = await new AbSlotInstaller(join(stateDir, 'system'), {
    boot: () => Promise.resolve(true),
  }).running();
  const image = await readFile(join(stateDir, 'system', 'slots', slot, 'image'));
  return { version, complete: releases.some((r) => r.version === version && r.bytes.equals(image)) };
}

/** One repository, one key for every role; target entries carry the fields policy.ts reads. */
function signedRepository(
  repo: 'release' | 'rollout',
  releases: Release[],
  deltas: LoopDelta[],
): Record<string, Buffer> {
  const key = OfflineSigner.generate();
  const out: Record<string, Buffer> = {};
  const sign = (name: string, signed: Root | Targets | Snapshot | Timestamp) => {
    const md = new Metadata(signed);
    signMetadata(md, [key]);
    return (out[name] = Buffer.from(JSON.stringify(md.toJSON())));
  };
  const root = new Root({ specVersion: '1.0.31', version: 1, expires: EXPIRES, consistentSnapshot: true });
  for (const role of ['root', 'targets', 'snapshot', 'timestamp']) root.addKey(key.key, role);
  sign('1.root.json', root);
  const targets = new Targets({ specVersion: '1.0.31', version: 1, expires: EXPIRES });
  for (const r of releases) {
    const policy = { version: r.version, channel: CHANNEL, hardwareIds: [HARDWARE], rollbackIndex: r.rollbackIndex };
    const rollout = {
      ...{ percent: 100, salt: 'loop-salt', paused: false, withdrawn: false },
      ...(r.windows ? { windows: JSON.parse(JSON.stringify(r.windows)) as string[] } : {}),
    };
    const custom = repo === 'release' ? policy : { ...policy, rollout };
    targets.addTarget(
      new TargetFile({
        path: targetName(r.version),
        length: r.bytes.length,
        hashes: { sha256: sha256Of(r) },
        unrecognizedFields: { custom },
      }),
    );
  }
  for (const d of deltas) {
    targets.addTarget(
      new TargetFile({
        path: d.name,
        length: d.bytes.length,
        hashes: { sha256: sha(d.bytes) },
        unrecognizedFields: { custom: { [DELTA_FIELD]: d.binding } as never },
      }),
    );
  }
  sign('1.targets.json', targets);
  const snap = sign(
    '1.snapshot.json',
    new Snapshot({
      specVersion: '1.0.31',
      version: 1,
      expires: EXPIRES,
      meta: { 'targets.json': new MetaFile({ version: 1 }) },
    }),
  );
  const snapshotMeta = new MetaFile({ version: 1, length: snap.length, hashes: { sha256: sha(snap) } });
  sign('timestamp.json', new Timestamp({ specVersion: '1.0.31', version: 1, expires: EXPIRES, snapshotMeta }));
  return out;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
}

/** How a report reads in expectations: `outcome version code-or-health`. */
export const said = (r: InstallReport) => `${r.outcome} ${r.version} ${r.errorCode ?? r.health}`;

/**
 * Mocha hooks shared by the agent tests: one loopback server with both releases, and for
 * each test a fresh device folder whose device already runs `old`, with `next` on offer
 * and the server's logs cleared. Read `ota` and `stateDir` from the returned object.
 */
export function deviceRunningOld(
  old: Release,
  next: Release,
  prefix: string,
  deltas: () => Promise<LoopDelta[]> = () => Promise.resolve([]),
): { ota: LoopbackOta; stateDir: string } {
  const ctx = { ota: undefined as unknown as LoopbackOta, stateDir: '', dir: '' };
  before(async () => {
    ctx.ota = await startLoopbackOta([old, next], await deltas());
  });
  after(async () => {
    await ctx.ota.close();
  });
  beforeEach(async () => {
    ctx.dir = await mkdtemp(join(tmpdir(), prefix));
    ctx.stateDir = join(ctx.dir, 'device');
    ctx.ota.offering = old.version;
    ctx.ota.failReports = false;
    const first = await loopbackDevice(ctx.ota, ctx.stateDir).checkForUpdate();
    if (first.status !== 'installed' || first.version !== old.version)
      throw new Error(`setup: ${JSON.stringify(first)}`);
    ctx.ota.offering = next.version;
    ctx.ota.polls.length = ctx.ota.reports.length = ctx.ota.downloads.length = ctx.ota.fetched.length = 0;
  });
  afterEach(async () => {
    await rm(ctx.dir, { recursive: true, force: true });
  });
  return ctx;
}
