import type { ComponentMatch } from '../common/adminApi';
import type { DocumentFormat, DocumentKind, DocumentRef } from '../common/releaseDocuments';
import type { Sql } from './fleetStore';

/** A stored document as the store knows it. */
export interface StoredDocument extends DocumentRef {
  kind: DocumentKind;
  /** Provenance: the artifacts' sha256 it is about. */
  subjects: string[];
}

/** Release documents, their SBOMs' components, and which release came with which (migration 011). */
export class DocumentStore {
  constructor(private readonly sql: Sql) {}

  /** Keeps a checked document once (by its digest) with its components. */
  async save(
    d: StoredDocument & { components: ReadonlyArray<{ name: string; version: string; purl?: string }> },
    createdBy: string,
  ): Promise<void> {
    await this.sql.query(
      `WITH doc AS (
         INSERT INTO documents (sha256, kind, format, length, subjects, created_by) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (sha256) DO NOTHING RETURNING sha256)
       INSERT INTO document_components (sha256, name, version, purl)
       SELECT doc.sha256, c.name, c.version, c.purl FROM doc, json_to_recordset($7::json) AS c(name text, version text, purl text)`,
      [d.sha256, d.kind, d.format, d.length, d.subjects, createdBy, JSON.stringify(d.components)],
    );
  }

  async get(sha256: string): Promise<StoredDocument | undefined> {
    const rows = await this.sql.query<{
      sha256: string;
      kind: DocumentKind;
      format: DocumentFormat;
      length: string;
      subjects: string[];
    }>('SELECT sha256, kind, format, length, subjects FROM documents WHERE sha256 = $1', [sha256]);
    const r = rows.rows[0];
    return r && { sha256: r.sha256, kind: r.kind, format: r.format, length: Number(r.length), subjects: r.subjects };
  }

  /** Which documents a release came with (kept when it is created; a failed release keeps them too). */
  async attach(
    release: { channel: string; version: string },
    docs: ReadonlyArray<{ kind: DocumentKind; sha256: string }>,
  ): Promise<void> {
    for (const d of docs)
      await this.sql.query(
        `INSERT INTO release_documents (channel, version, kind, sha256) VALUES ($1, $2, $3, $4)
         ON CONFLICT (channel, version, kind) DO UPDATE SET sha256 = EXCLUDED.sha256`,
        [release.channel, release.version, d.kind, d.sha256],
      );
  }

  /** Releases whose SBOM lists a component of this name (any case), with how many devices run each. */
  async components(name: string, limit: number): Promise<ComponentMatch[]> {
    const rows = await this.sql.query<{
      channel: string;
      version: string;
      name: string;
      cversion: string;
      purl: string | null;
      devices: number;
    }>(
      `SELECT rd.channel, rd.version, dc.name, dc.version AS cversion, dc.purl,
              (SELECT count(*)::int FROM devices d WHERE d.channel = rd.channel AND d.current_version = rd.version) AS devices
       FROM release_documents rd JOIN document_components dc ON dc.sha256 = rd.sha256
       WHERE rd.kind = 'sbom' AND lower(dc.name) = lower($1)
       ORDER BY rd.channel, rd.version, dc.version LIMIT $2`,
      [name, limit],
    );
    return rows.rows.map((r) => ({
      channel: r.channel,
      version: r.version,
      component: { name: r.name, version: r.cversion, ...(r.purl !== null ? { purl: r.purl } : {}) },
      devices: r.devices,
    }));
  }
}
