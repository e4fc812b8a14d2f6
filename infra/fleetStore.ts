import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { InstallReport } from '@enigm-ota/client-sdk';
import type { Config } from './config';
import type { FleetSummary, TargetStats } from '../common/adminApi';

/** The SQL both engines share; table modules (devices, operators) use it too. */
export interface Sql {
  query<R>(text: string, params?: unknown[]): Promise<{ rows: R[] }>;
  exec(text: string): Promise<unknown>;
  close(): Promise<void>;
}

const MIGRATIONS_DIR = join(__dirname, '..', '..', 'infra', 'migrations');

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
  ) {
    this.exclusive = exclusive;
  }

  static async open(config: Config['fleet']): Promise<FleetStore> {
    const sql = config.databaseUrl ? await openPostgres(config.databaseUrl) : await openPglite(config.pgliteDir);
    const store = new FleetStore(sql, !config.databaseUrl);
    store.applied = await store.migrate();
    return store;
  }

  /** Migrations this open applied (the rest were there already): `ota db migrate` prints them. */
  applied: string[] = [];

  /** Applies each migration file once, in name order, inside a transaction. */
  private async migrate(): Promise<string[]> {
    const done: string[] = [];
    await this.sql.exec('CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())');
    const applied = new Set((await this.sql.query<{ name: string }>('SELECT name FROM schema_migrations')).rows.map((r) => r.name));
    for (const name of (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql')).sort()) {
      if (applied.has(name)) continue;
      const text = await readFile(join(MIGRATIONS_DIR, name), 'utf8');
      await this.sql.exec(`BEGIN;\n${text}\nINSERT INTO schema_migrations (name) VALUES ('${name.replace(/'/g, "''")}');\nCOMMIT;`);
      done.push(name);
    }
    return done;
  }

  /**
   * Stores a report once: a retry with the same `reportId` changes nothing (the gates
   * count devices, and a duplicate must never count twice). Written before the API answers,
   * so a restart loses no accepted report. Returns false for a duplicate.
   */
  async recordReport(report: InstallReport): Promise<boolean> {
    // S-16
    const inserted = await this.sql.query(
      `INSERT INTO install_reports (device_id, report_id, target_name, version, outcome, health, error_code, message)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (device_id, report_id) DO NOTHING RETURNING id`,
      [report.deviceId, report.reportId ?? null, report.targetName ?? null, report.version, report.outcome, report.health ?? null, report.errorCode ?? null, report.message ?? null],
    );
    if (inserted.rows.length === 0) return false;
    // The version a report names is what runs now (after a local revert too).
    await this.sql.query(
      `INSERT INTO devices (device_id, current_version) VALUES ($1, $2)
       ON CONFLICT (device_id) DO UPDATE SET current_version = EXCLUDED.current_version, last_report_at = now()`,
      [report.deviceId, report.version],
    );
    return true;
  }

  async reports(deviceId: string): Promise<Array<{ version: string; outcome: string; error_code: string | null }>> {
    return (
      await this.sql.query<{ version: string; outcome: string; error_code: string | null }>(
        'SELECT version, outcome, error_code FROM install_reports WHERE device_id = $1 ORDER BY id',
        [deviceId],
      )
    ).rows;
  }

  /**
   * Per device, its latest health report (healthy or reverted: what gates judge; a later
   * refusal while paused does not erase a revert) and its latest report of any kind.
   */
  async targetStats(targetName: string): Promise<TargetStats> {
    const health = await this.sql.query<{ health: string; n: number }>(
      `SELECT health, count(*)::int AS n FROM (
         SELECT DISTINCT ON (device_id) device_id, health FROM install_reports
         WHERE target_name = $1 AND health IS NOT NULL ORDER BY device_id, id DESC) last
       GROUP BY 1`,
      [targetName],
    );
    const latest = await this.sql.query<{ outcome: string; health: string | null; n: number }>(
      `SELECT outcome, health, count(*)::int AS n FROM (
         SELECT DISTINCT ON (device_id) device_id, outcome, health FROM install_reports
         WHERE target_name = $1 ORDER BY device_id, id DESC) last
       GROUP BY 1, 2`,
      [targetName],
    );
    const stats: TargetStats = { devices: 0, healthy: 0, reverted: 0, failed: 0, refused: 0 };
    for (const r of health.rows) {
      if (r.health === 'healthy') stats.healthy += r.n;
      else if (r.health === 'reverted') stats.reverted += r.n;
    }
    for (const r of latest.rows) {
      stats.devices += r.n;
      if (r.health === null && r.outcome === 'failed') stats.failed += r.n;
      else if (r.outcome === 'refused') stats.refused += r.n;
    }
    return stats;
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

  async close(): Promise<void> {
    await this.sql.close();
  }
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

async function openPostgres(url: string): Promise<Sql> {
  const { Pool } = await import('pg');
  const pool = new Pool({ connectionString: url, max: 10 });
  return {
    query: async <R>(text: string, params?: unknown[]) => ({ rows: (await pool.query(text, params)).rows as R[] }),
    exec: async (text) => pool.query(text),
    close: () => pool.end(),
  };
}
