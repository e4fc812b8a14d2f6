import { REPOSITORIES } from '@enigm-ota/client-sdk';
import type { Client } from '@temporalio/client';

import type { MetadataStatus, MetadataWatermark } from '../common/adminApi';
import type { Config } from '../infra/config';
import { freshnessScheduleState } from '../infra/schedules';
import { Storage } from '../infra/storage';
import { openRepository } from '../trust/ceremony';
import { partitionFolder } from '../trust/layout';

/**
 * What `ota metadata status` and the dashboard's freshness page show: every role's expiry,
 * the re-signing schedule, and storage against the highest versions the servers have seen
 * (`watermarks`: the fleet store's in the API, the API's answer on the signing host).
 * Storage is read here without the floor, so the status still works while it is rolled back.
 */
export async function readMetadataStatus(
  client: Client,
  config: Config,
  watermarks: () => Promise<MetadataWatermark[]>,
): Promise<MetadataStatus> {
  const storage = new Storage(config.minio);
  const problems: string[] = [];
  const repositories = {} as MetadataStatus['repositories'];
  const marks = await watermarks().catch((err: unknown) => {
    problems.push(`cannot compare storage with the highest versions seen: ${(err as Error).message}`);
    return [] as MetadataWatermark[];
  });
  for (const repo of REPOSITORIES) {
    const sets = await (await openRepository(config, { storage, repo })).status();
    // The root is the repository's: listed once, then each file set's own roles.
    const roles = sets.flatMap((set, i) =>
      set.roles
        .filter((r) => i === 0 || r.role !== 'root')
        .map((r) => ({ ...r, ...(set.partition && r.role !== 'root' ? { partition: set.partition } : {}) })),
    );
    repositories[repo] = roles.map((r) => {
      const scope = r.partition ? partitionFolder(repo, r.partition) : repo;
      const where = r.partition ? `${repo} ${r.partition}` : repo;
      const hoursLeft = (Date.parse(r.expires) - Date.now()) / 3_600_000;
      const expiresSoon = r.role !== 'root' && hoursLeft < config.freshness.withinHours;
      if (hoursLeft <= 0) problems.push(`${where} ${r.role} expired at ${r.expires}`);
      else if (expiresSoon)
        problems.push(`${where} ${r.role} expires in ${hoursLeft.toFixed(1)} h and was not re-signed`);
      const mark = marks.find((m) => m.repo === scope && m.role === r.role);
      if (mark && mark.version > r.version) {
        problems.push(
          `${where} ${r.role}: storage holds version ${r.version}, older than version ${mark.version} seen at ${mark.seenAt} (STORAGE_ROLLBACK: storage was rolled back or replaced; restore it)`,
        );
      }
      return {
        ...r,
        hoursLeft: Math.round(hoursLeft * 10) / 10,
        expiresSoon,
        ...(mark ? { highestSeen: mark.version } : {}),
      };
    });
  }

  const schedule = await freshnessScheduleState(client);
  if (!schedule.exists) problems.push('the freshness schedule does not exist (start a worker)');
  if (schedule.paused) problems.push(`the freshness schedule is paused${schedule.note ? `: ${schedule.note}` : ''}`);
  if (schedule.lastRun && !['COMPLETED', 'RUNNING'].includes(schedule.lastRun.status)) {
    problems.push(`the last freshness run ${schedule.lastRun.status.toLowerCase()} (${schedule.lastRun.workflowId})`);
  }
  return { repositories, schedule, watermarks: marks, healthy: problems.length === 0, problems };
}

const MAX_LISTED_PARTITIONS = 10;

export function describeMetadataStatus(s: MetadataStatus): string {
  const lines: string[] = [];
  for (const [repo, all] of Object.entries(s.repositories)) {
    const partitions = new Set(all.flatMap((r) => (r.partition ? [r.partition] : [])));
    // Many partitions: the roles that need a look (and the root), the rest counted; --json lists all.
    const shown =
      partitions.size > MAX_LISTED_PARTITIONS
        ? all.filter((r) => !r.partition || r.expiresSoon || (r.highestSeen ?? 0) > r.version)
        : all;
    lines.push(
      `${repo} repository${partitions.size ? `: ${partitions.size} partition(s)${shown.length < all.length ? `, ${all.length - shown.length} healthy role files not listed (--json lists them)` : ''}` : ''}`,
    );
    for (const r of shown) {
      const rolledBack =
        r.highestSeen !== undefined && r.highestSeen > r.version
          ? `  <- ROLLED BACK: v${r.highestSeen} was already seen`
          : '';
      lines.push(
        `  ${r.partition ? `${r.partition} ` : ''}${r.role.padEnd(9)} v${String(r.version).padEnd(5)} expires ${r.expires} (${r.hoursLeft} h)${r.expiresSoon ? '  <- not re-signed in time' : ''}${rolledBack}`,
      );
    }
  }
  const sch = s.schedule;
  lines.push(
    sch.exists
      ? `freshness schedule: ${sch.paused ? 'PAUSED' : 'active'}; last run ${sch.lastRun ? `${sch.lastRun.status} at ${sch.lastRun.startedAt}` : 'none yet'}; next ${sch.nextRunAt ?? 'none'}`
      : 'freshness schedule: MISSING',
  );
  for (const m of s.watermarks.filter((x) => x.lastRollback)) {
    lines.push(
      `storage rollback last refused: ${m.repo} ${m.role} v${m.lastRollback!.version} at ${m.lastRollback!.at} (highest seen v${m.version})`,
    );
  }
  for (const p of s.problems) lines.push(`problem: ${p}`);
  return lines.join('\n');
}
