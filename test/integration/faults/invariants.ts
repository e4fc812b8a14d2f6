import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  AbSlotInstaller,
  defaultLimits,
  readRolloutState,
  REPOSITORIES,
  type RepositoryName,
  TrustedRepository,
} from '@enigm-ota/client-sdk';
import { Metadata, MetadataKind, type TargetFile } from '@tufjs/models';

import type { AuditRow, DeviceDetail } from '../../../common/adminApi';
import { Storage } from '../../../infra/storage';
import { rootFile } from '../../../trust/ceremony';
import { parseRoot } from '../../../trust/rootChain';
import { parseTufJson } from '../../../trust/tufJson';
import { chainProblems, type MetadataFile } from '../../metadataChain';
import { adminApi, testConfig } from '../helpers';

/**
 * What must hold after any fault: checked from outside, in storage, the audit
 * log and the devices' own slots, never from what the services say about themselves.
 * Each returns the problems it found (empty: the invariant holds), so a failure names them all.
 */

/** The newest targets version of each repository in storage: a mark to check repeats after. */
export type ChainMark = Partial<Record<RepositoryName, number>>;

export async function chainMark(): Promise<ChainMark> {
  const mark: ChainMark = {};
  for (const repo of REPOSITORIES) {
    const names = await metadataNames(repo);
    mark[repo] = Math.max(
      0,
      ...names
        .map((n) => /^(\d+)\.targets\.json$/.exec(n))
        .filter(Boolean)
        .map((m) => Number(m![1])),
    );
  }
  return mark;
}

/** The signed metadata chain of every repository in storage (see chainProblems); repeats count only after `since`. */
export async function metadataChainProblems(since: ChainMark = {}): Promise<string[]> {
  const storage = new Storage(testConfig().minio);
  const problems: string[] = [];
  for (const repo of REPOSITORIES) {
    const read = async (name: string) =>
      JSON.parse((await storage.getBytes('metadata', `${repo}/${name}`, 64 << 20))!.toString()) as MetadataFile;
    problems.push(
      ...(await chainProblems({ names: await metadataNames(repo), read }, since[repo])).map((p) => `${repo}: ${p}`),
    );
  }
  return problems;
}

async function metadataNames(repo: RepositoryName): Promise<string[]> {
  const storage = new Storage(testConfig().minio);
  const names: string[] = [];
  for await (const o of storage.client.listObjectsV2(
    storage.bucketName('metadata'),
    `${repo}/`,
    true,
  ) as AsyncIterable<{
    name?: string;
  }>)
    names.push(String(o.name).slice(repo.length + 1));
  return names;
}

/** What a release's signed rollout must show after a fault: the percents it published in order, and how it ended. */
export interface SignedRollout {
  /** The release's target name (its status's `target.name`). */
  target: string;
  /** Every step's percent, in order: each must appear in a signed targets version after the mark. */
  steps: number[];
  paused?: boolean;
  withdrawn?: boolean;
}

/**
 * The signed rollout in storage, as a device would verify it: both repositories refreshed
 * with tuf-js from the ceremony's roots (signatures, thresholds, versions, expiry), each
 * release's target in both with the same length and hashes, its final rollout state the
 * expected one, and every step published: the rollout targets versions after `since`,
 * each signed by the trusted root's targets key, show the release's percents in the plan's
 * order (other releases' publishes repeat a percent; none is skipped or goes back).
 */
export async function rolloutProblems(expected: SignedRollout[], since: ChainMark): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'ota-invariant-'));
  try {
    const release = await verifiedRepository('release', dir);
    const rollout = await verifiedRepository('rollout', dir);
    const trustedRoot = parseRoot(await readFile(join(dir, 'rollout', 'root.json')));
    const history = await signedTargetsAfter(trustedRoot, since.rollout ?? 0);
    const problems: string[] = [];
    for (const e of expected) {
      const [inRelease, inRollout] = [await release.target(e.target), await rollout.target(e.target)];
      if (!inRelease || !inRollout) {
        problems.push(`${e.target}: not in the ${inRelease ? 'rollout' : 'release'} repository`);
        continue;
      }
      if (inRelease.length !== inRollout.length || inRelease.hashes['sha256'] !== inRollout.hashes['sha256'])
        problems.push(`${e.target}: length or hashes differ between the repositories`);
      const state = readRolloutState(inRollout);
      const want = { percent: e.steps.at(-1), paused: e.paused ?? false, withdrawn: e.withdrawn ?? false };
      const got = { percent: state.percent, paused: state.paused, withdrawn: state.withdrawn };
      if (JSON.stringify(got) !== JSON.stringify(want))
        problems.push(`${e.target}: signed ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
      problems.push(...stepProblems(e, history));
    }
    return [...problems, ...history.problems];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** One repository refreshed from storage through a transport that reads the metadata bucket. */
async function verifiedRepository(name: RepositoryName, dir: string): Promise<TrustedRepository> {
  const storage = new Storage(testConfig().minio);
  const metadataDir = join(dir, name);
  TrustedRepository.provision(metadataDir, await readFile(rootFile(testConfig(), name)));
  const repo = new TrustedRepository({
    name,
    metadataDir,
    metadataBaseUrl: `http://storage.invalid/${name}`,
    limits: defaultLimits,
    transport: async (url) => {
      const bytes = await storage.getBytes('metadata', new URL(url).pathname.slice(1), 64 << 20);
      return bytes ? new Response(new Uint8Array(bytes)) : new Response(null, { status: 404 });
    },
  });
  await repo.refresh();
  return repo;
}

/** The rollout targets versions after `after`, each verified against the trusted root, oldest first. */
async function signedTargetsAfter(
  root: ReturnType<typeof parseRoot>,
  after: number,
): Promise<{ versions: Array<Record<string, TargetFile>>; problems: string[] }> {
  const storage = new Storage(testConfig().minio);
  const newest = (await chainMark()).rollout ?? 0;
  const versions: Array<Record<string, TargetFile>> = [];
  const problems: string[] = [];
  for (let v = after + 1; v <= newest; v++) {
    const bytes = await storage.getBytes('metadata', `rollout/${v}.targets.json`, 64 << 20);
    if (!bytes) {
      problems.push(`rollout targets ${v} is missing`);
      continue;
    }
    const targets = Metadata.fromJSON(MetadataKind.Targets, parseTufJson(bytes));
    try {
      root.verifyDelegate('targets', targets);
    } catch (err) {
      problems.push(`rollout targets ${v}: ${(err as Error).message}`);
      continue;
    }
    versions.push(targets.signed.targets);
  }
  return { versions, problems };
}

/** The release's percents across the signed versions, repeats folded, must be its steps. */
function stepProblems(e: SignedRollout, history: { versions: Array<Record<string, TargetFile>> }): string[] {
  const seen: number[] = [];
  for (const targets of history.versions) {
    const t = targets[e.target];
    if (!t) continue;
    const { percent } = readRolloutState(t);
    if (seen.at(-1) !== percent) seen.push(percent);
  }
  return JSON.stringify(seen) === JSON.stringify(e.steps)
    ? []
    : [`${e.target}: signed percents ${seen.join(',') || 'none'} after the mark, expected ${e.steps.join(',')}`];
}

/** The newest audit entry's id: a test's own entries come after it (a lane's tests run one at a time). */
export async function auditMark(): Promise<number> {
  const api = await adminApi();
  try {
    return (await api.get<AuditRow[]>('/v1/admin/audit?limit=1'))[0]?.id ?? 0;
  } finally {
    await api.close();
  }
}

/**
 * The audit log has each expected action on its subject with its outcome, and none of the
 * entries after `since` is left pending (earlier tests' hung-up requests are theirs).
 */
export async function auditProblems(
  expected: Array<{ action: string; subject: string }>,
  since: number,
): Promise<string[]> {
  const api = await adminApi();
  try {
    const rows = (await api.get<AuditRow[]>('/v1/admin/audit?limit=1000')).filter((r) => r.id > since);
    const problems = rows
      .filter((r) => r.outcome === 'pending')
      .map((r) => `audit entry ${r.id} (${r.action} ${r.subject}) still pending`);
    for (const e of expected) {
      if (!rows.some((r) => r.action === e.action && r.subject === e.subject && r.outcome === 'ok'))
        problems.push(`no audit entry: ${e.action} ${e.subject}`);
    }
    return problems;
  } finally {
    await api.close();
  }
}

/**
 * Every report a device got a 2xx for is stored exactly once. `acked` maps a device to the
 * messages of its acknowledged reports (each message is unique to one report).
 */
export async function reportProblems(acked: Map<string, string[]>): Promise<string[]> {
  const api = await adminApi();
  const problems: string[] = [];
  try {
    for (const [deviceId, messages] of acked) {
      const stored = (await api.get<DeviceDetail>(`/v1/admin/devices/${deviceId}`)).reports.map((r) => r.message);
      for (const m of messages) {
        const n = stored.filter((s) => s === m).length;
        if (n !== 1) problems.push(`${deviceId}: report "${m}" stored ${n} times`);
      }
    }
    return problems;
  } finally {
    await api.close();
  }
}

/**
 * A simulated device converged: its active slot runs `version` and holds exactly the signed
 * image (length and sha256 of the target), read from the device's own files.
 */
export async function slotProblems(
  stateDir: string,
  version: string,
  target: { length: number; sha256: string },
): Promise<string[]> {
  const installer = new AbSlotInstaller(join(stateDir, 'system'), { boot: () => Promise.resolve(true) });
  const running = await installer.running();
  if (running.version !== version) return [`${stateDir}: runs ${running.version ?? 'nothing'}, expected ${version}`];
  const image = await readFile(join(installer.slotDir(running.slot), 'image'));
  const sha256 = createHash('sha256').update(image).digest('hex');
  return image.length === target.length && sha256 === target.sha256
    ? []
    : [`${stateDir}: slot ${running.slot} holds ${image.length} bytes ${sha256.slice(0, 12)}, not the signed image`];
}
