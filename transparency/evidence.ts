import { REPOSITORIES } from '@enigm-ota/client-sdk';
import { leafHash, metadataLeaf } from '@enigm-ota/client-sdk/transparency';

import { ServerError } from '../common/errors';
import type { ReleaseTarget } from '../common/release';
import { writeTar } from '../common/tar';
import type { Sql } from '../infra/fleetStore';
import type { Storage } from '../infra/storage';
import { parseJson, sizeOf, type TransparencyLog } from '../infra/transparencyLog';
import { logIndexKey, MAX_METADATA_BYTES } from '../trust/metadataFiles';
import type { MetadataFileSet } from '../trust/metadataFileSet';
import type { MetadataRepository } from '../trust/metadataRepository';
import { EVIDENCE_FORMAT, type EvidenceEntry, type EvidenceManifest, MAX_EVIDENCE_RECEIPTS } from './evidenceFormat';

export interface EvidenceSources {
  tlog: TransparencyLog;
  storage: Storage;
  sql: Sql;
  repos: Record<(typeof REPOSITORIES)[number], MetadataRepository>;
}

export interface EvidenceRelease {
  channel: string;
  version: string;
  target: ReleaseTarget;
}

/** How far back a repository's targets versions are searched for the one that lists the release. */
const MAX_TARGETS_LOOKBACK = 500;
/** Leaves of the release still in the outbox are waited for this long before the export gives up. */
const SHIP_WAIT_MS = 20_000;

/**
 * An auditor's evidence for one release (ADR 0080), as one tar: the signed metadata that
 * authorized its target (every root of both repositories and the newest targets file of each
 * that lists it), its release events (approvals, steps, gate decisions), every receipt devices
 * signed about its target with the certificates that check them, and one inclusion proof per
 * logged file against one checkpoint. `ota evidence verify` checks it without the server.
 */
export async function exportEvidence(src: EvidenceSources, release: EvidenceRelease): Promise<Buffer> {
  const rows = await shippedRows(src.sql, release);
  const checkpoint = await src.tlog.checkpoint();
  const size = sizeOf(checkpoint);
  const logged: Array<{ path: string; bytes: Buffer; index: number | null }> = [
    ...(await metadataFiles(src, release)),
    ...rows.events.map((r) => ({ path: `events/${r.id}.json`, bytes: Buffer.from(r.leaf), index: r.index })),
    ...rows.receipts.map((r) => ({ path: `receipts/${r.id}.json`, bytes: Buffer.from(r.leaf), index: r.index })),
  ];
  const entries: EvidenceEntry[] = [];
  await inBatches(logged, 8, async (f) => {
    const within = f.index !== null && f.index < size;
    const proof = within ? Buffer.concat(await src.tlog.inclusionProof(f.index!, size)).toString('base64') : null;
    entries.push({ path: f.path, index: within ? f.index : null, proof });
  });
  entries.sort((a, b) => a.path.localeCompare(b.path));
  const manifest: EvidenceManifest = {
    format: EVIDENCE_FORMAT,
    release: {
      channel: release.channel,
      version: release.version,
      target: { name: release.target.name, sha256: release.target.sha256, length: release.target.length },
    },
    entries,
  };
  return writeTar([
    { name: 'manifest.json', bytes: Buffer.from(`${JSON.stringify(manifest)}\n`) },
    { name: 'checkpoint', bytes: Buffer.from(checkpoint) },
    ...logged.map((f) => ({ name: f.path, bytes: f.bytes })),
    ...rows.certificates.map((c) => ({ name: `certificates/${c.sha256}.der`, bytes: Buffer.from(c.der, 'base64') })),
  ]);
}

interface LeafRow {
  id: string;
  leaf: string;
  index: number | null;
}

/** The release's events and receipts as logged, once none waits in the outbox (or after SHIP_WAIT_MS). */
async function shippedRows(
  sql: Sql,
  release: EvidenceRelease,
): Promise<{ events: LeafRow[]; receipts: LeafRow[]; certificates: Array<{ sha256: string; der: string }> }> {
  const deadline = Date.now() + SHIP_WAIT_MS;
  for (;;) {
    const events = await sql.query<LeafRow>(
      `SELECT e.id::text AS id, l.leaf, l.log_index::float8 AS index FROM webhook_events e
       JOIN log_leaves l ON l.source = 'event' AND l.source_id = e.id
       WHERE e.subject = $1 ORDER BY e.id`,
      [`releases/${release.channel}/${release.version}`],
    );
    const receipts = await sql.query<LeafRow>(
      `SELECT r.id::text AS id, l.leaf, l.log_index::float8 AS index FROM install_reports r
       JOIN log_leaves l ON l.source = 'receipt' AND l.source_id = r.id
       WHERE r.target_name = $1 ORDER BY r.id LIMIT $2`,
      [release.target.name, MAX_EVIDENCE_RECEIPTS + 1],
    );
    if (receipts.rows.length > MAX_EVIDENCE_RECEIPTS)
      throw new ServerError(
        'PAYLOAD_TOO_LARGE',
        `over ${MAX_EVIDENCE_RECEIPTS} receipts: too many for one evidence file`,
      );
    const waiting = [...events.rows, ...receipts.rows].some((r) => r.index === null);
    if (!waiting || Date.now() > deadline) {
      const digests = [
        ...new Set(receipts.rows.map((r) => (JSON.parse(r.leaf) as { certificate: string }).certificate)),
      ];
      const certificates = await sql.query<{ sha256: string; der: string }>(
        'SELECT sha256, der FROM device_certificates WHERE sha256 = ANY($1::text[]) ORDER BY sha256',
        [digests],
      );
      return { events: events.rows, receipts: receipts.rows, certificates: certificates.rows };
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Every root of both repositories, and in each file set serving the release the newest targets listing it. */
async function metadataFiles(
  src: EvidenceSources,
  release: EvidenceRelease,
): Promise<Array<{ path: string; bytes: Buffer; index: number | null }>> {
  const keys = new Set<string>();
  // The targets files were read to find the one listing the release: kept, not read again.
  const read = new Map<string, Buffer>();
  for (const repo of REPOSITORIES) {
    const repository = src.repos[repo];
    const sets: MetadataFileSet[] =
      (await repository.layout()) === 'partitioned'
        ? release.target.custom.hardwareIds.map((hw) => repository.partition(release.channel, hw))
        : [repository.flat];
    for (const set of sets) {
      const root = await set.currentRoot();
      for (let v = 1; v <= root.signed.version; v++) keys.add(set.storageKey(`${v}.root.json`));
      const listing = await targetsListing(src.storage, set, release.target.name);
      keys.add(listing.key);
      read.set(listing.key, listing.bytes);
    }
  }
  const files = [];
  for (const key of [...keys].sort()) {
    const bytes = read.get(key) ?? (await src.storage.getBytes('metadata', key, MAX_METADATA_BYTES));
    if (!bytes) throw new ServerError('NOT_FOUND', `metadata/${key} is not in storage`);
    const stored = await src.storage.getBytes('metadata', logIndexKey(leafHash(metadataLeaf(key, bytes))), 256);
    const index = stored ? Number((parseJson(stored) as { index?: unknown } | null)?.index) : NaN;
    files.push({ path: `metadata/${key}`, bytes, index: Number.isSafeInteger(index) ? index : null });
  }
  return files;
}

/** The newest `N.targets.json` of `set` whose targets include `name`: its storage key and bytes. */
async function targetsListing(
  storage: Storage,
  set: MetadataFileSet,
  name: string,
): Promise<{ key: string; bytes: Buffer }> {
  const newest = (await set.targets()).signed.version;
  for (let v = newest; v >= Math.max(1, newest - MAX_TARGETS_LOOKBACK); v--) {
    const key = set.storageKey(`${v}.targets.json`);
    const bytes = await storage.getBytes('metadata', key, MAX_METADATA_BYTES);
    const targets = bytes && (parseJson(bytes) as { signed?: { targets?: Record<string, unknown> } } | null);
    if (targets?.signed?.targets && Object.hasOwn(targets.signed.targets, name)) return { key, bytes: bytes! };
  }
  throw new ServerError('NOT_FOUND', `no targets file of ${set.scope} lists ${name}`);
}

async function inBatches<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(fn));
}
