import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { InstallReport } from '@enigm-ota/client-sdk';

import type { DeliverySummary, FleetSummary, TargetStats } from '../common/adminApi';
import { ServerError } from '../common/errors';
import { BLOCKING_REFUSALS } from '../common/refusals';
import { type ChangeBus, type ChangeKind, localBus, postgresBus } from './changes';
import type { Config } from './config';

/** The SQL both engines share; table modules (devices, operators) use it too. */
export interface Sql {
  query<R>(text: string, params?: unknown[]): Promise<{ rows: R[] }>;
  exec(text: string): Promise<unknown>;
  close(): Promise<void>;
}

const MIGRATIONS_DIR = join(__dirname, '..', '..', 'infra', 'migrations');

/**
 * An install report as a device sent it: the SDK's InstallReport, except that a refused
 * delta's code may be one this server's SDK does not know (a newer device's).
 */
export type ReceivedReport = Omit<InstallReport, 'delivery'> & {
  delivery?: { as: 'delta' | 'full'; bytes: number; deltaRefused?: string };
};

/** A report's receipt as the API checked it (fleet/receipts.ts): stored with the report, logged by a trigger. */
export interface StoredReceipt {
  body: string;
  signature: string;
  /** The attestation key's co-signature and chain, kept only once checked. */
  attestation?: { signature: string; certChain: string[] };
  certificate: Buffer;
  certificateSha256: string;
}

/**
 * Durable fleet state. PGlite in-process by default (one API process owns the folder);
 * PostgreSQL through `pg` when DATABASE_URL is set, for replicated APIs.
 */
export class FleetStore {
  /**
   * True for PGlite: one process owns the folder, so that process sees every change and may
   * keep exact in-memory copies (the device identity cache). Never true for PostgreSQL.
   */
  readonly exclusive: boolean;

  private constructor(
    readonly sql: Sql,
    exclusive: boolean,
    private readonly changes: ChangeBus,
  ) {
    this.exclusive = exclusive;
  }

  /** `warn` hears what the store recovers from by itself (a PostgreSQL restart, a lost listener). */
  static async open(
    config: Config['fleet'],
    warn: (msg: string, err?: unknown) => void = () => undefined,
  ): Promise<FleetStore> {
    const { sql, changes } = config.databaseUrl
      ? await openPostgres(config.databaseUrl, warn)
      : { sql: await openPglite(config.pgliteDir), changes: localBus() };
    const store = new FleetStore(sql, !config.databaseUrl, changes);
    store.applied = await store.migrate();
    // A derived table starts from the history that existed before it.
    if (store.applied.includes('004_target_devices.sql')) await store.rebuildDerivedState();
    return store;
  }

  /** Migrations this open applied (the rest were there already): `ota db migrate` prints them. */
  applied: string[] = [];

  /** Applies each migration file once, in name order, inside a transaction. */
  private async migrate(): Promise<string[]> {
    const done: string[] = [];
    await this.sql.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())',
    );
    const applied = new Set(
      (await this.sql.query<{ name: string }>('SELECT name FROM schema_migrations')).rows.map((r) => r.name),
    );
    for (const name of (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql')).sort()) {
      if (applied.has(name)) continue;
      const text = await readFile(join(MIGRATIONS_DIR, name), 'utf8');
      await this.sql.exec(
        `BEGIN;\n${text}\nINSERT INTO schema_migrations (name) VALUES ('${name.replace(/'/g, "''")}');\nCOMMIT;`,
      );
      done.push(name);
    }
    return done;
  }

  /**
   * Stores a report once: a retry with the same `reportId` changes nothing (the gates
   * count devices, and a duplicate must never count twice). Written before the API answers,
   * so a restart loses no accepted report. Returns false for a duplicate. Only with its
   * checked receipt: the table refuses a row without one (migration 013).
   */
  async recordReport(report: ReceivedReport, receipt: StoredReceipt): Promise<boolean> {
    // S-16: one statement, so the report, the device's version (and its change) and its
    // per-target state are stored together or not at all; a duplicate changes none of them.
    const inserted = await this.sql.query(
      `WITH ins AS (
         INSERT INTO install_reports (device_id, report_id, target_name, version, outcome, health, error_code, message, delivered_as, delivered_bytes, delta_refused, wait_reason, receipt_body, receipt_signature, receipt_certificate, receipt_attestation)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $17) ON CONFLICT (device_id, report_id) DO NOTHING
         RETURNING id, device_id, target_name, version, outcome, health, error_code, wait_reason),
       cert AS (
         INSERT INTO device_certificates (sha256, device_id, der) SELECT $15, device_id, $16 FROM ins
         ON CONFLICT (sha256) DO NOTHING),
       old AS (SELECT current_version, channel FROM devices WHERE device_id = $1),
       -- The version a report names is what runs now (after a local revert too).
       chg AS (
         INSERT INTO version_changes (device_id, channel, at, from_version, to_version)
         SELECT ins.device_id, old.channel, now(), old.current_version, ins.version FROM ins LEFT JOIN old ON true
         WHERE old.current_version IS DISTINCT FROM ins.version),
       dev AS (
         INSERT INTO devices (device_id, current_version) SELECT device_id, version FROM ins
         ON CONFLICT (device_id) DO UPDATE SET current_version = EXCLUDED.current_version, last_report_at = now()),
       tgt AS (
         INSERT INTO target_devices (target_name, device_id, report_id, outcome, health, error_code, health_report_id, last_health, wait_reason)
         SELECT target_name, device_id, id, outcome, health, error_code, CASE WHEN health IS NOT NULL THEN id END, health, wait_reason FROM ins WHERE target_name IS NOT NULL
         ON CONFLICT (target_name, device_id) DO UPDATE SET
           report_id = greatest(target_devices.report_id, EXCLUDED.report_id),
           outcome = CASE WHEN EXCLUDED.report_id > target_devices.report_id THEN EXCLUDED.outcome ELSE target_devices.outcome END,
           wait_reason = CASE WHEN EXCLUDED.report_id > target_devices.report_id THEN EXCLUDED.wait_reason ELSE target_devices.wait_reason END,
           health = CASE WHEN EXCLUDED.report_id > target_devices.report_id THEN EXCLUDED.health ELSE target_devices.health END,
           error_code = CASE WHEN EXCLUDED.report_id > target_devices.report_id THEN EXCLUDED.error_code ELSE target_devices.error_code END,
           health_report_id = CASE WHEN EXCLUDED.health IS NOT NULL AND EXCLUDED.report_id > coalesce(target_devices.health_report_id, 0)
                                   THEN EXCLUDED.report_id ELSE target_devices.health_report_id END,
           last_health = CASE WHEN EXCLUDED.health IS NOT NULL AND EXCLUDED.report_id > coalesce(target_devices.health_report_id, 0)
                              THEN EXCLUDED.health ELSE target_devices.last_health END)
       SELECT id FROM ins`,
      [
        report.deviceId,
        report.reportId ?? null,
        report.targetName ?? null,
        report.version,
        report.outcome,
        report.health ?? null,
        report.errorCode ?? null,
        report.message ?? null,
        report.delivery?.as ?? null,
        report.delivery?.bytes ?? null,
        report.delivery?.deltaRefused ?? null,
        // Only a waiting report has a reason to wait: any other keeps none.
        report.outcome === 'waiting' ? (report.waitReason ?? null) : null,
        receipt.body,
        receipt.signature,
        receipt.certificateSha256,
        receipt.certificate.toString('base64'),
        receipt.attestation ? JSON.stringify(receipt.attestation) : null,
      ],
    );
    return inserted.rows.length > 0;
  }

  /** How a target's installs came: per kind, the installs and the artifact bytes devices reported. */
  async deliveryStats(targetName: string): Promise<Omit<DeliverySummary, 'savedBytes' | 'savedPercent'>> {
    const rows = await this.sql.query<{ delivered_as: 'delta' | 'full'; n: number; bytes: string; refused: number }>(
      `SELECT delivered_as, count(*)::int AS n, coalesce(sum(delivered_bytes), 0)::text AS bytes, count(delta_refused)::int AS refused
       FROM install_reports WHERE target_name = $1 AND outcome = 'installed' AND delivered_as IS NOT NULL GROUP BY 1`,
      [targetName],
    );
    const stats = { delta: { installs: 0, bytes: 0 }, full: { installs: 0, bytes: 0 }, deltaRefused: 0 };
    for (const r of rows.rows) {
      stats[r.delivered_as] = { installs: r.n, bytes: Number(r.bytes) };
      stats.deltaRefused += r.refused;
    }
    return stats;
  }

  /**
   * Rebuilds the tables derived from the report history (each device's per-target state and
   * its version changes), which recordReport and enrollment otherwise keep as they go: after
   * the migration that made them, and after a bulk load.
   */
  async rebuildDerivedState(): Promise<void> {
    await this.sql.exec(`BEGIN;
      DELETE FROM target_devices;
      INSERT INTO target_devices (target_name, device_id, report_id, outcome, health, error_code, health_report_id, last_health, wait_reason)
      SELECT l.target_name, l.device_id, l.id, l.outcome, l.health, l.error_code, h.id, h.health, l.wait_reason
      FROM (SELECT DISTINCT ON (target_name, device_id) target_name, device_id, id, outcome, health, error_code, wait_reason
            FROM install_reports WHERE target_name IS NOT NULL ORDER BY target_name, device_id, id DESC) l
      LEFT JOIN (SELECT DISTINCT ON (target_name, device_id) target_name, device_id, id, health
                 FROM install_reports WHERE target_name IS NOT NULL AND health IS NOT NULL ORDER BY target_name, device_id, id DESC) h
        ON h.target_name = l.target_name AND h.device_id = l.device_id;
      DELETE FROM version_changes;
      INSERT INTO version_changes (device_id, channel, at, from_version, to_version)
      SELECT c.device_id, d.channel, c.received_at, c.prev, c.version
      FROM (SELECT device_id, version, received_at, lag(version) OVER (PARTITION BY device_id ORDER BY id) AS prev FROM install_reports) c
      JOIN devices d ON d.device_id = c.device_id
      WHERE c.prev IS DISTINCT FROM c.version;
      INSERT INTO version_changes (device_id, channel, at, from_version, to_version)
      SELECT device_id, channel, coalesce(enrolled_at, last_report_at), NULL, current_version FROM devices d
      WHERE NOT EXISTS (SELECT 1 FROM install_reports r WHERE r.device_id = d.device_id);
      COMMIT;`);
  }

  /** Per device, its latest reports for the target; see `targetStatsOf`. */
  targetStats(targetName: string, until?: Date): Promise<TargetStats> {
    return targetStatsOf(this.sql, targetName, until);
  }

  /** Counts for `ota fleet` and the demo: versions run now, outcomes of the latest report per device. */
  async summary(devicePrefix = ''): Promise<FleetSummary> {
    const like = `${devicePrefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const versions = await this.sql.query<{ current_version: string; n: number }>(
      'SELECT current_version, count(*)::int AS n FROM devices WHERE device_id LIKE $1 GROUP BY 1',
      [like],
    );
    const latest = await this.sql.query<{ outcome: string; error_code: string | null; n: number }>(
      `SELECT outcome, error_code, count(*)::int AS n FROM (
         SELECT DISTINCT ON (device_id) device_id, outcome, error_code FROM install_reports
         WHERE device_id LIKE $1 ORDER BY device_id, id DESC) last
       GROUP BY 1, 2`,
      [like],
    );
    const summary: FleetSummary = { devices: 0, versions: {}, outcomes: {}, errorCodes: {} };
    for (const r of versions.rows) {
      summary.versions[r.current_version] = r.n;
      summary.devices += r.n;
    }
    for (const r of latest.rows) {
      summary.outcomes[r.outcome] = (summary.outcomes[r.outcome] ?? 0) + r.n;
      if (r.error_code) summary.errorCodes[r.error_code] = (summary.errorCodes[r.error_code] ?? 0) + r.n;
    }
    return summary;
  }

  /**
   * Tells every API replica sharing this store that `kind` changed, so each drops its cached
   * copy (NOTIFY on PostgreSQL; in-process on PGlite, which one process owns).
   */
  notify(kind: ChangeKind, id?: string): Promise<void> {
    return this.changes.notify(kind, id);
  }

  /** Runs `fn` when any replica (this one too) notifies `kind`, and after a lost listener reconnects. */
  onChange(kind: ChangeKind, fn: (id?: string) => void): void {
    this.changes.onChange(kind, fn);
  }

  /** Whether this replica hears every change made from now on (its listener is up). */
  listening(): boolean {
    return this.changes.listening();
  }

  async close(): Promise<void> {
    await this.changes.close();
    await this.sql.close();
  }
}

/**
 * Per device, its latest health report (healthy or reverted: what gates judge; a later
 * refusal while paused does not erase a revert) and its latest report of any kind.
 * Now, it is read from `target_devices` (kept by recordReport: one narrow row per device, no
 * sort of the history). With `until`, the same question is asked of the report history up to
 * that time: a step's health as it stood when the step ended (the dashboard's step history).
 */
export async function targetStatsOf(sql: Sql, targetName: string, until?: Date): Promise<TargetStats> {
  const blocking = [...BLOCKING_REFUSALS];
  const rows = until
    ? await sql.query<DeviceState>(
        `SELECT l.outcome, l.health, h.health AS last_health, (l.error_code = ANY($3::text[])) AS blocking, l.wait_reason, count(*)::int AS n
         FROM (SELECT DISTINCT ON (device_id) device_id, outcome, health, error_code, wait_reason FROM install_reports
               WHERE target_name = $1 AND received_at <= $2::timestamptz ORDER BY device_id, id DESC) l
         LEFT JOIN (SELECT DISTINCT ON (device_id) device_id, health FROM install_reports
               WHERE target_name = $1 AND health IS NOT NULL AND received_at <= $2::timestamptz ORDER BY device_id, id DESC) h
           ON h.device_id = l.device_id
         GROUP BY 1, 2, 3, 4, 5`,
        [targetName, until.toISOString(), blocking],
      )
    : await sql.query<DeviceState>(
        `SELECT outcome, health, last_health, (error_code = ANY($2::text[])) AS blocking, wait_reason, count(*)::int AS n
         FROM target_devices WHERE target_name = $1 GROUP BY 1, 2, 3, 4, 5`,
        [targetName, blocking],
      );
  const stats: TargetStats = {
    devices: 0,
    healthy: 0,
    reverted: 0,
    failed: 0,
    refused: 0,
    blocked: 0,
    waiting: { window: 0, notReady: 0, metered: 0 },
  };
  for (const r of rows.rows) {
    stats.devices += r.n;
    if (r.last_health === 'healthy') stats.healthy += r.n;
    else if (r.last_health === 'reverted') stats.reverted += r.n;
    if (r.health === null && r.outcome === 'failed') stats.failed += r.n;
    else if (r.outcome === 'refused') {
      stats.refused += r.n;
      if (r.blocking) stats.blocked += r.n;
    } else if (r.outcome === 'waiting') countWaiting(stats.waiting!, r);
  }
  return stats;
}

/**
 * D-19: a device whose latest report says it waits (a reason it gave, or none a server knows:
 * counted as not ready) is in none of the gate's numbers.
 */
function countWaiting(waiting: NonNullable<TargetStats['waiting']>, r: DeviceState): void {
  if (r.wait_reason === 'window') waiting.window += r.n;
  else if (r.wait_reason === 'metered') waiting.metered += r.n;
  else waiting.notReady += r.n;
}

/** Devices of a target grouped by their latest outcome and health, and their latest health report's. */
interface DeviceState {
  wait_reason: string | null;
  outcome: string;
  health: string | null;
  last_health: string | null;
  /** The latest report's code is a blocking refusal (common/refusals.ts). */
  blocking: boolean | null;
  n: number;
}

async function openPglite(dir: string): Promise<Sql> {
  const { PGlite } = await import('@electric-sql/pglite');
  const db = await PGlite.create(dir);
  return {
    query: async <R>(text: string, params?: unknown[]) => ({ rows: (await db.query<R>(text, params)).rows }),
    exec: (text) => db.exec(text),
    close: () => db.close(),
  };
}

async function openPostgres(
  url: string,
  warn: (msg: string, err?: unknown) => void,
): Promise<{ sql: Sql; changes: ChangeBus }> {
  const { Client, Pool } = await import('pg');
  const pool = new Pool({ connectionString: url, max: 10 });
  // An idle connection the server ends (a restart, a failover) is an 'error' event on the
  // pool, which would end the process unheard; the pool drops it and the next query opens a
  // new one, while queries meanwhile fail as 503 (the fault suite restarts PostgreSQL).
  pool.on('error', (err) => warn('the fleet store closed an idle connection; the next query opens a new one', err));
  const sql: Sql = {
    query: async <R>(text: string, params?: unknown[]) => ({
      rows: (await pool.query(text, params).catch(unreachable)).rows as R[],
    }),
    exec: async (text) => pool.query(text).catch(unreachable),
    close: () => pool.end(),
  };
  const changes = postgresBus(
    { notifyQuery: (text, params) => pool.query(text, params), newClient: () => new Client({ connectionString: url }) },
    { log: warn },
  );
  // Listening before the API serves: a change made meanwhile is then heard.
  await changes.ready;
  return { sql, changes };
}

/**
 * A query that failed because PostgreSQL cannot be reached (down, restarting, the connection
 * cut) is UNAVAILABLE (HTTP 503: clients retry later), not an internal error: SQLSTATE
 * classes 08 (connection) and 57P (shutdown, starting up), socket errors, a connection ended
 * mid-query. Any other error is passed on as it is.
 */
function unreachable(err: unknown): never {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  const lost =
    /^(08|57P)/.test(code) ||
    /^E(CONNREFUSED|CONNRESET|PIPE|TIMEDOUT|HOSTUNREACH)$/.test(code) ||
    /Connection terminated/i.test(String(e.message));
  if (lost)
    throw new ServerError('UNAVAILABLE', 'the fleet store (PostgreSQL) cannot be reached; try again shortly', {
      cause: err,
    });
  throw err;
}
