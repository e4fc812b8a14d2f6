import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import { VerificationError } from '@enigm-ota/client-sdk';
import {
  type Checkpoint,
  leafHash,
  logPolicy,
  openCheckpoint,
  parseVerifierKey,
  readCheckpoint,
  rootOf,
  verifyConsistency,
} from '@enigm-ota/client-sdk/transparency';

import { LOG_SOURCES, type LogSource } from '../common/adminApi';
import { InputError } from '../common/errors';
import type { AdminApiClient } from '../infra/adminApiClient';
import type { Config } from '../infra/config';
import type { Invocation } from './args';

export interface LogFlags {
  key?: string;
  state?: string;
}

/** What `ota log verify` found wrong; any one makes it exit 1. */
interface Finding {
  problem: 'rewritten' | 'deleted' | 'not-logged' | 'conflicting';
  source: LogSource;
  id: number;
  detail: string;
}

const PAGE = 256;

/** `ota log status|verify`: the transparency log, checked from this machine (ADR 0078). */
export async function logCommand(api: AdminApiClient, call: Invocation<LogFlags>, config: Config): Promise<number> {
  if (call.command === 'status') return status(api, call, config);
  if (call.command === 'verify') return verify(api, call, config);
  throw new InputError(`unknown log command: ${call.command ?? ''} (ota --help)`);
}

async function status(api: AdminApiClient, { flags, out }: Invocation<LogFlags>, config: Config): Promise<number> {
  const { checkpoint, pending } = await api.get<{ checkpoint: string; pending: number }>('/v1/admin/log/checkpoint');
  const cp = openCheckpoint(checkpoint, await policyOf(flags, config));
  const root = cp.root.toString('base64');
  out.result({ origin: cp.origin, size: cp.size, root, witnessedBy: cp.witnessedBy, pending }, () =>
    [
      `log ${cp.origin}: ${cp.size} entries, root ${root}`,
      `cosigned by: ${cp.witnessedBy.join(', ') || 'no witness required'}`,
      `waiting to be appended: ${pending}`,
    ].join('\n'),
  );
  return 0;
}

/**
 * Checks the log against the pinned key and against what this machine saw last time (the
 * checkpoint kept in --state), rebuilds the tree from every entry, then compares the fleet
 * store's rows as they are now with the leaves logged when they were written.
 */
async function verify(api: AdminApiClient, { flags, out }: Invocation<LogFlags>, config: Config): Promise<number> {
  const policy = await policyOf(flags, config);
  const stateFile = flags.state ?? join(config.home, 'log-verify.checkpoint');
  const { checkpoint } = await api.get<{ checkpoint: string }>('/v1/admin/log/checkpoint');
  const cp = openCheckpoint(checkpoint, policy);
  // Verified when it was kept (under the witness policy of that day): read, not checked again.
  const kept = existsSync(stateFile) ? readCheckpoint(await readFile(stateFile, 'utf8'), policy) : undefined;
  if (kept && kept.size > 0) await checkConsistent(api, kept, cp);
  const entries = await allEntries(api, cp, (done) => out.progress(`read ${done} of ${cp.size} entries`));
  const root = rootOf(entries.map(leafHash));
  if (!root.equals(cp.root))
    throw new VerificationError('LOG_INCONSISTENT', 'the entries the log serves are not the tree its checkpoint signs');
  // The log is what it signed, and extends what this machine saw: keep it for next time.
  await mkdir(dirname(stateFile), { recursive: true });
  await writeFile(`${stateFile}.tmp`, cp.note);
  await rename(`${stateFile}.tmp`, stateFile);
  const logged = loggedRows(entries);
  const { findings, rows, waiting } = await compareRows(api, logged);
  const metadata = entries.filter((e) => kindOf(e) === 'metadata').length;
  const result = {
    ok: findings.length === 0,
    origin: cp.origin,
    size: cp.size,
    root: cp.root.toString('base64'),
    witnessedBy: cp.witnessedBy,
    consistentWith: kept?.size ?? null,
    rowsChecked: rows,
    waiting,
    metadataEntries: metadata,
    findings,
  };
  out.result(result, () =>
    [
      `log ${cp.origin}: ${cp.size} entries, signed by the pinned key, root rebuilt from every entry`,
      kept
        ? `consistent with the checkpoint kept in ${stateFile} (size ${kept.size})`
        : `first check: kept in ${stateFile}`,
      `${rows} fleet store rows compared (${waiting} not appended yet), ${metadata} signed metadata files logged`,
      ...findings.map((f) => `${f.problem.toUpperCase()}: ${f.source} ${f.id}: ${f.detail}`),
      findings.length ? `${findings.length} problem(s): the fleet store is not the history the log holds` : 'ok',
    ].join('\n'),
  );
  return findings.length ? 1 : 0;
}

/**
 * The fleet store's rows as they are now against the leaves logged when they were written. A
 * row appended twice has two identical leaves; two different leaves for one row mean one was
 * forged, so the row is compared with the first and the conflict is named.
 */
async function compareRows(
  api: AdminApiClient,
  logged: Map<string, string[]>,
): Promise<{ findings: Finding[]; rows: number; waiting: number }> {
  const findings: Finding[] = [];
  let rows = 0;
  let waiting = 0;
  for (const source of LOG_SOURCES) {
    const seen = new Set<number>();
    for await (const row of currentRows(api, source)) {
      rows++;
      seen.add(row.id);
      const leaves = logged.get(`${source}:${row.id}`);
      if (!leaves) {
        // In the outbox and not appended yet, or never (or the outbox says shipped): the log decides.
        if (row.queued) waiting++;
        else findings.push({ problem: 'not-logged', source, id: row.id, detail: 'written, never appended to the log' });
        continue;
      }
      if (new Set(leaves).size > 1)
        findings.push({
          problem: 'conflicting',
          source,
          id: row.id,
          detail: 'the log holds two different leaves for it',
        });
      if (row.leaf !== leaves[0])
        findings.push({ problem: 'rewritten', source, id: row.id, detail: differences(leaves[0]!, row.leaf) });
    }
    for (const key of logged.keys()) {
      const [s, id] = key.split(':');
      if (s === source && !seen.has(Number(id)))
        findings.push({ problem: 'deleted', source, id: Number(id), detail: 'logged, no longer in the fleet store' });
    }
  }
  return { findings, rows, waiting };
}

export async function policyOf(flags: Pick<LogFlags, 'key'>, config: Config): Promise<ReturnType<typeof logPolicy>> {
  const file = flags.key ?? config.transparency?.keyFile;
  if (!file) throw new InputError('no log key: give --key FILE (the verifier key the key ceremony wrote)');
  if (!existsSync(file)) throw new InputError(`log key file ${file} does not exist`);
  const text = (await readFile(file, 'utf8')).slice(0, 1024).trim();
  const key = parseVerifierKey(text);
  // Every witness configured must have cosigned (OTA_TLOG_WITNESS_KEYS), as devices require.
  const witnesses = await Promise.all(
    (config.transparency?.witnessKeyFiles ?? []).map(async (f) => (await readFile(f, 'utf8')).slice(0, 1024).trim()),
  );
  return logPolicy({ origin: key.name, logKey: text, witnesses, quorum: witnesses.length });
}

async function checkConsistent(api: AdminApiClient, kept: Checkpoint, now: Checkpoint): Promise<void> {
  if (now.size < kept.size)
    throw new VerificationError('LOG_INCONSISTENT', `the log shrank from ${kept.size} to ${now.size} entries`);
  const { hashes } =
    now.size === kept.size
      ? { hashes: [] }
      : await api.get<{ hashes: string[] }>(`/v1/admin/log/consistency?old=${kept.size}&new=${now.size}`);
  const proof = hashes.map((h) => Buffer.from(h, 'base64'));
  if (!verifyConsistency(kept, now, proof))
    throw new VerificationError(
      'LOG_INCONSISTENT',
      `the log at ${now.size} does not extend the one kept at ${kept.size}`,
    );
}

async function allEntries(api: AdminApiClient, cp: Checkpoint, progress: (done: number) => void): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let from = 0; from < cp.size; from += PAGE) {
    const to = Math.min(cp.size, from + PAGE);
    const page = await api.get<{ entries: string[] }>(`/v1/admin/log/entries?size=${cp.size}&from=${from}&to=${to}`);
    if (page.entries.length !== to - from) throw new VerificationError('LOG_INCONSISTENT', 'the log skipped entries');
    out.push(...page.entries.map((e) => Buffer.from(e, 'base64')));
    if (cp.size > PAGE) progress(out.length);
  }
  return out;
}

function kindOf(entry: Buffer): unknown {
  try {
    return (JSON.parse(entry.toString('utf8')) as { kind?: unknown }).kind;
  } catch {
    return undefined;
  }
}

/** The leaves of fleet store rows, by `source:id` (a row appended twice has two). */
function loggedRows(entries: readonly Buffer[]): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const e of entries) {
    let parsed: { kind?: unknown; id?: unknown };
    try {
      parsed = JSON.parse(e.toString('utf8')) as typeof parsed;
    } catch {
      continue;
    }
    if (LOG_SOURCES.includes(parsed.kind as LogSource) && Number.isSafeInteger(parsed.id)) {
      const key = `${parsed.kind as LogSource}:${String(parsed.id)}`;
      rows.set(key, [...(rows.get(key) ?? []), e.toString('utf8')]);
    }
  }
  return rows;
}

async function* currentRows(
  api: AdminApiClient,
  source: LogSource,
): AsyncGenerator<{ id: number; leaf: string; queued: boolean }> {
  let after = 0;
  for (;;) {
    const { rows } = await api.get<{ rows: Array<{ id: number; leaf: string; queued: boolean }> }>(
      `/v1/admin/log/sources?source=${source}&after=${after}&limit=5000`,
    );
    yield* rows;
    if (rows.length < 5000) return;
    after = rows[rows.length - 1]!.id;
  }
}

/** Which fields of a row differ from its logged leaf, and how. */
function differences(logged: string, now: string): string {
  const a = JSON.parse(logged) as Record<string, unknown>;
  const b = JSON.parse(now) as Record<string, unknown>;
  const changed = Object.keys({ ...a, ...b }).filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
  return changed
    .map((k) => `${k} was ${JSON.stringify(a[k])?.slice(0, 80)}, is ${JSON.stringify(b[k])?.slice(0, 80)}`)
    .join('; ');
}
