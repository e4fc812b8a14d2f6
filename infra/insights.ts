import type {
  AdoptionSeries,
  DeviceReport,
  FleetBreakdown,
  StepHealth,
  StepWindow,
  TargetStats,
} from '../common/adminApi';
import { InputError } from '../common/errors';
import { type Sql, targetStatsOf } from './fleetStore';

export const MAX_BUCKETS = 500;
const MAX_DEVICE_REPORTS = 1000;
/** How long after a step's end a report stamped before it may still be committing. */
const SETTLE_MS = 60_000;

/**
 * The dashboard's aggregates over the fleet store. Every number is computed in SQL (the
 * same text on PGlite and PostgreSQL): a release page must not pull a 100k-device report
 * history into the API process.
 */
export class Insights {
  constructor(private readonly sql: Sql) {}

  /**
   * Devices on `channel` per version at `buckets` evenly spaced times from `since` to `until`
   * (the last point is `until` itself). The count at time t is the count now minus the
   * version changes after t: so only the devices' versions now and the changes since the
   * release began are read (`version_changes`, kept with every report and enrollment), never
   * the channel's whole report history. Devices are counted on the channel they are on now.
   */
  async adoption(
    channel: string,
    { since, until, buckets = 60 }: { since: Date; until: Date; buckets?: number },
  ): Promise<AdoptionSeries> {
    if (!Number.isInteger(buckets) || buckets < 2 || buckets > MAX_BUCKETS)
      throw new InputError(`buckets must be 2..${MAX_BUCKETS}`);
    if (!(until.getTime() >= since.getTime())) throw new InputError('adoption: until must not be before since');
    // Whole milliseconds keep the bucket arithmetic exact in SQL.
    const bucketMs = Math.floor((until.getTime() - since.getTime()) / (buckets - 1));
    const now = await this.sql.query<{ version: string; n: number }>(
      'SELECT current_version AS version, count(*)::int AS n FROM devices WHERE channel = $1 GROUP BY 1',
      [channel],
    );
    // A change in (t[i-1], t[i]] first shows at point i; one after `until` at none (bucket = buckets).
    const later = await this.sql.query<{ version: string; bucket: number; delta: number }>(
      `SELECT e.version, b.bucket, sum(e.delta)::int AS delta
       FROM version_changes c
       CROSS JOIN LATERAL (VALUES (c.to_version, 1), (c.from_version, -1)) AS e(version, delta)
       CROSS JOIN LATERAL (SELECT CASE
           WHEN c.at > $3::timestamptz THEN $5::int
           WHEN $4::bigint = 0 THEN $5::int - 1
           ELSE least(ceil(extract(epoch FROM c.at - $2::timestamptz) * 1000 / $4::bigint), $5::int - 1)::int
         END AS bucket) b
       WHERE c.channel = $1 AND c.at > $2::timestamptz AND e.version IS NOT NULL
       GROUP BY 1, 2`,
      [channel, since.toISOString(), until.toISOString(), bucketMs, buckets],
    );
    const counts = new Map(now.rows.map((r) => [r.version, r.n]));
    // after[v][i]: the net change of v's count in bucket i (buckets: after `until`).
    const after = new Map<string, number[]>();
    for (const r of later.rows) {
      if (!counts.has(r.version)) counts.set(r.version, 0);
      const row = after.get(r.version) ?? new Array<number>(buckets + 1).fill(0);
      row[r.bucket] = (row[r.bucket] ?? 0) + r.delta;
      after.set(r.version, row);
    }
    const points = Array.from({ length: buckets }, (_, i): { at: string; versions: Record<string, number> } => ({
      at: new Date(i === buckets - 1 ? until.getTime() : since.getTime() + i * bucketMs).toISOString(),
      versions: {},
    }));
    for (const [version, n] of counts) {
      const deltas = after.get(version);
      // Walk back from now: the count at point i is the count at i+1 minus the changes of bucket i+1.
      let count = n - (deltas?.[buckets] ?? 0);
      for (let i = buckets - 1; i >= 0; i--) {
        if (count > 0) points[i]!.versions[version] = count;
        count -= deltas?.[i] ?? 0;
      }
    }
    return { since: since.toISOString(), until: until.toISOString(), bucketMs, points };
  }

  /**
   * Each step with the target's gate numbers as they stood at its end (a running step: now).
   * An ended step's numbers cannot change once reports stamped before its end are all stored
   * (SETTLE_MS later), so they are computed from the history once and kept in the store.
   */
  async stepHealth(targetName: string, steps: StepWindow[], now = new Date()): Promise<StepHealth[]> {
    const out: StepHealth[] = [];
    for (const s of steps) {
      const end = s.endedAt ? new Date(s.endedAt) : undefined;
      const stats = !end
        ? await targetStatsOf(this.sql, targetName)
        : end.getTime() < now.getTime() - SETTLE_MS
          ? await this.statsAt(targetName, end)
          : await targetStatsOf(this.sql, targetName, end);
      out.push({ ...s, stats });
    }
    return out;
  }

  private async statsAt(targetName: string, until: Date): Promise<TargetStats> {
    const key = [targetName, until.toISOString()];
    const kept = await this.sql.query<{ stats_json: string }>(
      'SELECT stats_json FROM target_stats_at WHERE target_name = $1 AND until = $2::timestamptz',
      key,
    );
    if (kept.rows[0]) return JSON.parse(kept.rows[0].stats_json) as TargetStats;
    const stats = await targetStatsOf(this.sql, targetName, until);
    await this.sql.query(
      'INSERT INTO target_stats_at (target_name, until, stats_json) VALUES ($1, $2::timestamptz, $3) ON CONFLICT DO NOTHING',
      [...key, JSON.stringify(stats)],
    );
    return stats;
  }

  /** Device counts by current version, channel, hardware, group and status, in two scans. */
  async breakdown(): Promise<FleetBreakdown> {
    const b: FleetBreakdown = { total: 0, versions: {}, channels: {}, hardwareIds: {}, groups: {}, statuses: {} };
    const dims = await this.sql.query<{
      dim: 'versions' | 'channels' | 'hardwareIds' | 'statuses' | 'total';
      key: string;
      n: number;
    }>(
      `SELECT CASE WHEN grouping(current_version) = 0 THEN 'versions' WHEN grouping(channel) = 0 THEN 'channels'
                   WHEN grouping(hardware_id) = 0 THEN 'hardwareIds' WHEN grouping(status) = 0 THEN 'statuses' ELSE 'total' END AS dim,
              coalesce(current_version, channel, hardware_id, status, '(none)') AS key, count(*)::int AS n
       FROM devices GROUP BY GROUPING SETS ((current_version), (channel), (hardware_id), (status), ())`,
    );
    for (const r of dims.rows) {
      if (r.dim === 'total') b.total = r.n;
      else b[r.dim][r.key] = r.n;
    }
    // Group lists are unique per device (the targeting rules), so each device counts once per group.
    const groups = await this.sql.query<{ key: string; n: number }>(
      'SELECT g AS key, count(*)::int AS n FROM devices CROSS JOIN LATERAL json_array_elements_text(groups_json::json) AS g GROUP BY 1',
    );
    for (const r of groups.rows) b.groups[r.key] = r.n;
    return b;
  }

  /** A device's latest reports, newest first. */
  async deviceReports(deviceId: string, limit: number): Promise<DeviceReport[]> {
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_DEVICE_REPORTS)
      throw new InputError(`limit must be 1..${MAX_DEVICE_REPORTS}`);
    const { rows } = await this.sql.query<{
      received_at: Date;
      target_name: string | null;
      version: string;
      outcome: DeviceReport['outcome'];
      health: DeviceReport['health'];
      error_code: string | null;
      message: string | null;
    }>(
      `SELECT received_at, target_name, version, outcome, health, error_code, message FROM install_reports
       WHERE device_id = $1 ORDER BY received_at DESC, id DESC LIMIT $2`,
      [deviceId, limit],
    );
    return rows.map((r) => ({
      at: new Date(r.received_at).toISOString(),
      targetName: r.target_name,
      version: r.version,
      outcome: r.outcome,
      health: r.health,
      errorCode: r.error_code,
      message: r.message,
    }));
  }
}
