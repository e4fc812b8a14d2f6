import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { AbSlotInstaller, REPOSITORIES, type RepositoryName } from '@enigm-ota/client-sdk';

import type { AuditRow, DeviceDetail } from '../../../common/adminApi';
import { Storage } from '../../../infra/storage';
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
