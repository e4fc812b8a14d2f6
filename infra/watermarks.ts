import type { MetadataWatermark } from '../common/adminApi';
import type { Sql } from './fleetStore';

type MetadataRole = MetadataWatermark['role'];

/** The highest verified version of each metadata role seen, in the fleet store (migration 007). */
export class Watermarks {
  constructor(private readonly sql: Sql) {}

  /** Raises a role's watermark to `version` if higher, in one statement (replicas race safely). */
  async raise(repo: string, role: MetadataRole, version: number): Promise<void> {
    await this.sql.query(
      `INSERT INTO metadata_watermarks (repo, role, version) VALUES ($1, $2, $3)
       ON CONFLICT (repo, role) DO UPDATE SET
         version = greatest(metadata_watermarks.version, EXCLUDED.version),
         seen_at = CASE WHEN EXCLUDED.version > metadata_watermarks.version THEN now() ELSE metadata_watermarks.seen_at END`,
      [repo, role, version],
    );
  }

  /**
   * Keeps a refused rollback (the older version storage held, and when) with the role's
   * watermark, and its `storage.rollback-detected` event (once per repository, role and version).
   */
  async recordRollback(repo: string, role: MetadataRole, version: number): Promise<void> {
    await this.sql.query(
      `WITH up AS (UPDATE metadata_watermarks SET rollback_seen_at = now(), rollback_version = $3::int WHERE repo = $1 AND role = $2
                   RETURNING version),
       ev AS (
         INSERT INTO webhook_events (event_key, type, subject, ordering_key, data)
         SELECT 'storage.rollback-detected:' || $1 || ':' || $2 || ':' || $3::int::text, 'storage.rollback-detected', 'repositories/' || $1,
                'repository:' || $1, json_build_object('repo', $1::text, 'role', $2::text, 'found', $3::int, 'highest', up.version)::text
         FROM up ON CONFLICT (event_key) DO NOTHING)
       SELECT 1`,
      [repo, role, version],
    );
  }

  /**
   * Drops a repository's watermarks, its partitions' too (an accepted restore); returns what
   * they were. `repo` is the repository's name; partitions are kept as `repo/p/channel/hw`.
   */
  async reset(repo: string): Promise<MetadataWatermark[]> {
    const before = (await this.list()).filter((m) => m.repo === repo || m.repo.startsWith(`${repo}/p/`));
    await this.sql.query(`DELETE FROM metadata_watermarks WHERE repo = $1 OR starts_with(repo, $1 || '/p/')`, [repo]);
    return before;
  }

  async list(): Promise<MetadataWatermark[]> {
    const rows = await this.sql.query<{
      repo: string;
      role: MetadataRole;
      version: number;
      seen_at: Date;
      rollback_seen_at: Date | null;
      rollback_version: number | null;
    }>(
      'SELECT repo, role, version, seen_at, rollback_seen_at, rollback_version FROM metadata_watermarks ORDER BY repo, role',
    );
    return rows.rows.map((r) => ({
      repo: r.repo,
      role: r.role,
      version: Number(r.version),
      seenAt: new Date(r.seen_at).toISOString(),
      ...(r.rollback_seen_at
        ? { lastRollback: { at: new Date(r.rollback_seen_at).toISOString(), version: Number(r.rollback_version) } }
        : {}),
    }));
  }
}
