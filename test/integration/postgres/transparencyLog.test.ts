import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  ED25519,
  formatVerifierKey,
  leafHash,
  logPolicy,
  metadataLeaf,
  openCheckpoint,
  parseVerifierKey,
  verifyInclusion,
} from '@enigm-ota/client-sdk/transparency';
import { expect } from 'chai';
import { Client } from 'pg';

import { Storage } from '../../../infra/storage';
import { TransparencyLog } from '../../../infra/transparencyLog';
import { ProcessManager } from '../../../scripts/lib/processes';
import { stackUp, TEST_PROFILE } from '../../../scripts/lib/stack';
import { waitFor } from '../../wait';
import { approve, device, ota, releaseAwaitingApproval, testConfig } from '../helpers';
import { TEST_EXTRA_ENV } from '../setup';

interface Verified {
  ok: boolean;
  witnessedBy: string[];
  size: number;
  consistentWith: number | null;
  rowsChecked: number;
  metadataEntries: number;
  findings: Array<{ problem: string; source: string; id: number; detail: string }>;
}

/**
 * The transparency log on the real stack (ADR 0078): Tessera with its key in the SoftHSM2
 * token, fed by the fleet store's trigger and the worker's metadata signing. `ota log verify`
 * finds a rewritten audit entry and a deleted release event in PostgreSQL, and refuses a log
 * signed by a key other than the one it pinned. Proofs the Go server makes (transparency-dev's
 * code) verify with the SDK's.
 */
describe('transparency log: every decision logged, rewrites found (ADR 0078)', function () {
  this.timeout(300_000);
  let db: Client;
  let state: string;

  before(async function () {
    if (!TEST_EXTRA_ENV['DATABASE_URL']) throw new Error('this suite runs in the postgres tier only');
    db = new Client({ connectionString: TEST_EXTRA_ENV['DATABASE_URL'] });
    await db.connect();
    state = join(await mkdtemp(join(tmpdir(), 'ota-log-verify-')), 'kept.checkpoint');
  });
  after(async () => db?.end());

  const verify = async (...extra: string[]) => {
    const r = await ota('log', 'verify', '--state', state, '--json', ...extra);
    return { code: r.code, out: JSON.parse(r.stdout) as Verified & { error?: { code: string } }, stderr: r.stderr };
  };
  const shipped = () =>
    waitFor(
      'every leaf appended',
      async () => (JSON.parse((await ota('log', 'status', '--json')).stdout) as { pending?: number }).pending === 0,
      { timeoutMs: 60_000 },
    );

  it('logs a release and its decisions; verify rebuilds the tree and finds every row as logged', async () => {
    await releaseAwaitingApproval('tlog', '1.0.0');
    await approve('tlog', '1.0.0');
    await shipped();
    const first = await verify();
    expect(first.code, first.stderr).to.equal(0);
    expect(first.out).to.include({ ok: true, consistentWith: null });
    expect(first.out.witnessedBy, "the stack's witness cosigned the checkpoint").to.deep.equal([
      'enigm-ota-stack-witness',
    ]);
    expect(first.out.rowsChecked).to.be.greaterThan(3);
    expect(first.out.metadataEntries, 'the ceremony and the release signed metadata').to.be.greaterThan(4);
    const events = await db.query<{ id: string; log_index: string | null }>(
      `SELECT e.id, l.log_index FROM webhook_events e JOIN log_leaves l ON l.source = 'event' AND l.source_id = e.id
       WHERE e.subject = 'releases/tlog/1.0.0' AND e.type = 'release.approved'`,
    );
    expect(events.rows).to.have.length(1);
    expect(events.rows[0]!.log_index).to.not.equal(null);
  });

  it('a device installs only timestamps the log proves, and keeps the checkpoint it verified', async () => {
    await waitFor(
      'the release is stable',
      async () => (await ota('release', 'status', '1.0.0', '--channel', 'tlog', '--json')).stdout.includes('"stable"'),
      {
        timeoutMs: 120_000,
      },
    );
    const agent = await device('tlog-device', 'tlog');
    expect((await agent.checkForUpdate()).status).to.equal('installed');
    const state = JSON.parse(
      await readFile(join(testConfig().home, 'test-devices', 'tlog-device', 'metadata', 'log.json'), 'utf8'),
    ) as { checkpoint: string; proved: Record<string, string> };
    expect(Object.keys(state.proved).sort()).to.deep.equal(['release/timestamp.json', 'rollout/timestamp.json']);
    const policy = logPolicy({ origin: 'enigm-ota.local/log', logKey: (await readFile(keyFile(), 'utf8')).trim() });
    expect(openCheckpoint(state.checkpoint, policy).size).to.be.greaterThan(0);
  });

  it('keeps its entries across a restart of the log server, and stays consistent', async () => {
    const size = async () => (JSON.parse((await ota('log', 'status', '--json')).stdout) as { size: number }).size;
    const before = await size();
    expect(await new ProcessManager(TEST_PROFILE.home).stop('tlog')).to.equal(true);
    await stackUp(TEST_PROFILE, { extraEnv: TEST_EXTRA_ENV });
    expect(await size()).to.be.at.least(before);
    const again = await verify();
    expect(again.code, again.stderr).to.equal(0);
    expect(again.out.consistentWith, 'checked against the checkpoint kept before the restart').to.be.greaterThan(0);
  });

  it('the log server proves a published timestamp included; the SDK checks the proof', async () => {
    const tlog = process.env['OTA_TLOG_URL']!;
    const cp = openCheckpoint(
      await (await fetch(`${tlog}/checkpoint`)).text(),
      logPolicy({ origin: 'enigm-ota.local/log', logKey: (await readFile(keyFile(), 'utf8')).trim() }),
    );
    const bytes = await new Storage(testConfig().minio).getBytes('metadata', 'release/timestamp.json', 1 << 20);
    const leaf = metadataLeaf('release/timestamp.json', bytes!);
    const index = await indexOf(tlog, cp.size, leaf);
    const proof = (await (await fetch(`${tlog}/proof/inclusion?index=${index}&size=${cp.size}`)).json()) as {
      hashes: string[];
    };
    const hashes = proof.hashes.map((h) => Buffer.from(h, 'base64'));
    expect(verifyInclusion({ index, size: cp.size, hash: leafHash(leaf) }, hashes, cp.root)).to.equal(true);
    expect(verifyInclusion({ index, size: cp.size, hash: leafHash(Buffer.from('another')) }, hashes, cp.root)).to.equal(
      false,
    );
  });

  it('finds an audit entry rewritten in the fleet store, names the field, and passes once restored', async () => {
    // Another decision since the kept checkpoint: the next verify checks a real consistency proof.
    // (Audited whether the release is still rolling out or already stable and refuses it.)
    await ota('release', 'pause', '1.0.0', '--channel', 'tlog', '--reason', 'log check', '--json');
    await shipped();
    const row = await db.query<{ id: string }>(
      `SELECT id FROM audit_log WHERE reason = 'log check' AND outcome <> 'pending' ORDER BY id DESC LIMIT 1`,
    );
    const { id } = row.rows[0]!;
    const actor = (JSON.parse((await logged('audit', id))!) as { actor: string }).actor;
    await db.query('UPDATE audit_log SET actor = $1 WHERE id = $2', ['someone-else', id]);
    const tampered = await verify();
    expect(tampered.code).to.equal(1);
    expect(tampered.out.consistentWith, 'checked against the first run').to.be.greaterThan(0);
    expect(tampered.out.findings).to.have.length(1);
    expect(tampered.out.findings[0]).to.include({ problem: 'rewritten', source: 'audit', id: Number(id) });
    expect(tampered.out.findings[0]!.detail).to.match(/^actor was ".*", is "someone-else"/);
    await db.query('UPDATE audit_log SET actor = $1 WHERE id = $2', [actor, id]);
    expect((await verify()).code).to.equal(0);
  });

  it("finds a device's receipt rewritten in the fleet store, and passes once restored", async () => {
    await shipped();
    const row = (
      await db.query<{ id: string; receipt_body: string }>(
        'SELECT id, receipt_body FROM install_reports WHERE receipt_body IS NOT NULL ORDER BY id DESC LIMIT 1',
      )
    ).rows[0]!;
    const claims = Buffer.from(row.receipt_body, 'base64').toString('utf8');
    const forged = Buffer.from(claims.replace(/"version":"[^"]*"/, '"version":"9.9.9"')).toString('base64');
    await db.query('UPDATE install_reports SET receipt_body = $1 WHERE id = $2', [forged, row.id]);
    const found = await verify();
    expect(found.code).to.equal(1);
    expect(found.out.findings.map((f) => ({ problem: f.problem, source: f.source, id: f.id }))).to.deep.include({
      problem: 'rewritten',
      source: 'receipt',
      id: Number(row.id),
    });
    await db.query('UPDATE install_reports SET receipt_body = $1 WHERE id = $2', [row.receipt_body, row.id]);
    expect((await verify()).code).to.equal(0);
  });

  it('names a row the log holds two different leaves for: a second, forged leaf does not hide a rewrite', async () => {
    const row = (
      await db.query<{ id: string }>(`SELECT id FROM audit_log WHERE outcome <> 'pending' ORDER BY id LIMIT 1`)
    ).rows[0]!;
    const leaf = JSON.parse((await logged('audit', row.id))!) as Record<string, unknown>;
    const writer = new TransparencyLog({
      url: process.env['OTA_TLOG_URL']!,
      writeToken: process.env['OTA_TLOG_WRITE_TOKEN'],
    });
    await writer.append(Buffer.from(JSON.stringify({ ...leaf, actor: 'forger' })));
    await db.query('UPDATE audit_log SET actor = $1 WHERE id = $2', ['forger', row.id]);
    const found = await verify();
    expect(found.code).to.equal(1);
    expect(found.out.findings.filter((f) => f.id === Number(row.id)).map((f) => f.problem)).to.deep.equal([
      'conflicting',
      'rewritten',
    ]);
    await db.query('UPDATE audit_log SET actor = $1 WHERE id = $2', [leaf['actor'], row.id]);
  });

  it('finds a release decision deleted from the fleet store', async () => {
    const gone = await db.query<{ id: string }>(
      `DELETE FROM webhook_events WHERE id = (
         SELECT max(e.id) FROM webhook_events e WHERE e.subject = 'releases/tlog/1.0.0'
           AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id)) RETURNING id`,
    );
    expect(gone.rows).to.have.length(1);
    const found = await verify();
    expect(found.code).to.equal(1);
    expect(found.out.findings).to.deep.include({
      problem: 'deleted',
      source: 'event',
      id: Number(gone.rows[0]!.id),
      detail: 'logged, no longer in the fleet store',
    });
  });

  it('refuses the log when it is checked against another key, with a code, keeping nothing', async () => {
    const kept = await readFile(state, 'utf8');
    const { publicKey } = generateKeyPairSync('ed25519');
    const other = join(await mkdtemp(join(tmpdir(), 'ota-log-key-')), 'other.vkey');
    const name = parseVerifierKey((await readFile(keyFile(), 'utf8')).trim()).name;
    await writeFile(
      other,
      formatVerifierKey(name, ED25519, publicKey.export({ format: 'der', type: 'spki' }).subarray(-32)),
    );
    const r = await verify('--key', other);
    expect(r.code).to.equal(1);
    expect(r.out.error?.code).to.equal('LOG_UNTRUSTED');
    expect(await readFile(state, 'utf8')).to.equal(kept);
  });

  const keyFile = () => join(process.env['OTA_HOME']!, 'ceremony', 'transparency-log.vkey');
  const logged = async (source: string, id: string) =>
    (await db.query<{ leaf: string }>('SELECT leaf FROM log_leaves WHERE source = $1 AND source_id = $2', [source, id]))
      .rows[0]?.leaf;
});

/** The index of the last log entry equal to `leaf`, read from the log's entry bundles. */
async function indexOf(tlog: string, size: number, leaf: Buffer): Promise<number> {
  const entries = await new TransparencyLog({ url: tlog }).entries(0, size);
  const index = entries.findLastIndex((e) => e.equals(leaf));
  expect(index, 'the published timestamp is in the log').to.be.at.least(0);
  return index;
}
