import { type RequestHandler, Router } from 'express';

import { LOG_SOURCES, type LogSource } from '../common/adminApi';
import { InputError, ServerError } from '../common/errors';
import type { Devices } from '../infra/devices';
import type { LogLeaves } from '../infra/logLeaves';
import type { Storage } from '../infra/storage';
import { parseJson, sizeOf, type TransparencyLog } from '../infra/transparencyLog';
import { logIndexKey } from '../trust/metadataFiles';
import { deviceAuth } from './auth';
import type { Permission } from './permissions';
import { queryInteger, queryText } from './query';

export interface LogRouteDeps {
  /** Undefined when no log is configured: every route answers 503. */
  tlog: TransparencyLog | undefined;
  logLeaves: LogLeaves;
  storage: Storage;
  devices: Devices;
  guard: (permission: Permission) => RequestHandler;
}

/** Entries per request: one full entry bundle (each may hold up to 16 MiB of entries). */
const MAX_ENTRIES = 256;
const MAX_INDEX = 2 ** 53 - 1;

/**
 * The transparency log as `ota log verify` reads it, and the fleet store's rows as they are
 * now. Nothing here is trusted by the reader: it checks the checkpoint against the log key it
 * pinned and the entries against the checkpoint's root (ADR 0078).
 */
export function logRoutes(deps: LogRouteDeps): Router {
  const r = Router();
  const { guard, logLeaves } = deps;
  const tlog = (): TransparencyLog => configured(deps);
  r.get('/v1/admin/log/checkpoint', guard('read'), async (_req, res) => {
    const checkpoint = await tlog().checkpoint();
    res.json({ checkpoint, ...(await logLeaves.backlog()) });
  });
  r.get('/v1/admin/log/entries', guard('read'), async (req, res) => {
    const size = queryInteger(req, 'size', { fallback: 0, min: 1, max: MAX_INDEX });
    const from = queryInteger(req, 'from', { fallback: 0, min: 0, max: MAX_INDEX });
    const to = queryInteger(req, 'to', { fallback: size, min: 1, max: MAX_INDEX });
    if (!(from < to && to <= size && to - from <= MAX_ENTRIES))
      throw new InputError(`entries from < to <= size, at most ${MAX_ENTRIES} at once`);
    const entries = await tlog().entries(from, to);
    res.json({ from, entries: entries.map((e) => e.toString('base64')) });
  });
  r.get('/v1/admin/log/consistency', guard('read'), async (req, res) => {
    const oldSize = queryInteger(req, 'old', { fallback: 0, min: 1, max: MAX_INDEX });
    const newSize = queryInteger(req, 'new', { fallback: 0, min: 1, max: MAX_INDEX });
    if (oldSize > newSize) throw new InputError('old must be at most new');
    const hashes = await tlog().consistencyProof(oldSize, newSize);
    res.json({ hashes: hashes.map((h) => h.toString('base64')) });
  });
  r.get('/v1/admin/log/sources', guard('read'), async (req, res) => {
    const source = queryText(req, 'source');
    if (!LOG_SOURCES.includes(source as LogSource)) throw new InputError(`source is one of ${LOG_SOURCES.join(', ')}`);
    const after = queryInteger(req, 'after', { fallback: 0, min: 0, max: MAX_INDEX });
    const limit = queryInteger(req, 'limit', { fallback: 1000, min: 1, max: 5000 });
    res.json({ rows: await logLeaves.current(source as LogSource, after, limit) });
  });
  deviceProofs(r, deps);
  return r;
}

function configured(deps: Pick<LogRouteDeps, 'tlog'>): TransparencyLog {
  if (!deps.tlog) throw new ServerError('UNAVAILABLE', 'no transparency log is configured (OTA_TLOG_URL)');
  return deps.tlog;
}

/**
 * A device's proofs for the timestamp it now trusts: where its leaf is (the index the signer
 * kept beside it), the latest checkpoint, the inclusion proof, and the consistency proof from
 * the size it kept. One request per new timestamp; the device checks everything.
 */
function deviceProofs(r: Router, deps: LogRouteDeps): void {
  r.get('/v1/log/proof', deviceAuth(deps.devices), async (req, res) => {
    const leaf = queryText(req, 'leaf') ?? '';
    if (!/^[0-9a-f]{64}$/.test(leaf)) throw new InputError('leaf is a leaf hash: 64 lowercase hex digits');
    const from = queryInteger(req, 'from', { fallback: 0, min: 0, max: MAX_INDEX });
    const tlog = configured(deps);
    const stored = await deps.storage.getBytes('metadata', logIndexKey(Buffer.from(leaf, 'hex')), 256);
    if (!stored) throw new ServerError('NOT_FOUND', 'the log holds no signed metadata file with that leaf');
    const index = Number((parseJson(stored) as { index?: unknown } | null)?.index);
    const checkpoint = await tlog.checkpoint();
    const size = sizeOf(checkpoint);
    if (!Number.isSafeInteger(index) || index >= size)
      throw new ServerError('UNAVAILABLE', 'the log has not published that entry yet');
    const [inclusion, consistency] = await Promise.all([
      tlog.inclusionProof(index, size),
      from > 0 && from < size ? tlog.consistencyProof(from, size) : Promise.resolve([]),
    ]);
    // Each proof as one base64 string of its hashes: what a device downloads stays small.
    const b64 = (hashes: Buffer[]) => Buffer.concat(hashes).toString('base64');
    res.json({ checkpoint, index, inclusion: b64(inclusion), consistency: b64(consistency) });
  });
}
