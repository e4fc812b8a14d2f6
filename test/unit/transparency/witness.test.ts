import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { logPolicy, openCheckpoint, parseVerifierKey } from '@enigm-ota/client-sdk/transparency';
import { leafHash } from '@enigm-ota/client-sdk/transparency';
import { expect } from 'chai';

import { Witness } from '../../../transparency/witness';
import { logKey, ReferenceLog, subproof } from '../client-sdk/transparency/referenceLog';

const ORIGIN = 'enigm-ota.test/log';

describe('witness: cosigns only checkpoints that extend the last one (transparency/witness.ts)', () => {
  const key = logKey(ORIGIN);
  const policy = logPolicy({ origin: ORIGIN, logKey: key.vkey });
  const { privateKey } = generateKeyPairSync('ed25519');
  let dir: string;
  let log: ReferenceLog;
  const witness = () =>
    new Witness({ name: 'w1', privateKey, log: policy, stateFile: join(dir, 'state'), now: () => 1_700_000_000 });
  /** The tlog-witness request for the log's current checkpoint, from `old` (proof computed honestly). */
  const request = (from: ReferenceLog, old: number) => {
    const size = from.entries.length;
    const proof = old > 0 && old < size ? subproof(old, from.entries.map(leafHash), true) : [];
    return `old ${old}\n${proof.map((p) => `${p.toString('base64')}\n`).join('')}\n${from.checkpoint()}`;
  };
  const grow = (l: ReferenceLog, n: number, tag = '') => {
    for (let i = 0; i < n; i++) l.append(Buffer.from(`${tag}entry ${l.entries.length}`));
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-witness-'));
    log = new ReferenceLog(key);
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('cosigns the first checkpoint and each that extends it; devices verify the cosignature', async () => {
    const w = witness();
    grow(log, 3);
    const first = await w.addCheckpoint(request(log, 0));
    expect(first.status, first.body).to.equal(200);
    const witnessed = logPolicy({ origin: ORIGIN, logKey: key.vkey, witnesses: [w.verifierKey()], quorum: 1 });
    expect(openCheckpoint(`${log.checkpoint()}${first.body}`, witnessed).witnessedBy).to.deep.equal(['w1']);
    grow(log, 5);
    const second = await w.addCheckpoint(request(log, 3));
    expect(second.status, second.body).to.equal(200);
    // A restarted witness remembers what it cosigned.
    expect(witness().kept()?.size).to.equal(8);
    expect(parseVerifierKey(w.verifierKey()).name).to.equal('w1');
  });

  it('answers 409 with its size when the log assumed another, and refuses a fork with 422', async () => {
    const w = witness();
    grow(log, 4);
    expect((await w.addCheckpoint(request(log, 0))).status).to.equal(200);
    grow(log, 1);
    const stale = await w.addCheckpoint(request(log, 2));
    expect(stale).to.deep.include({ status: 409, contentType: 'text/x.tlog.size', body: '4\n' });
    // Another history from entry 2 on, signed by the same log key: never cosigned.
    const fork = new ReferenceLog(key);
    fork.append(log.entries[0]!);
    fork.append(log.entries[1]!);
    grow(fork, 4, 'forked ');
    const forked = await w.addCheckpoint(request(fork, 4));
    expect(forked.status).to.equal(422);
    expect(witness().kept()?.size, 'the fork was not kept').to.equal(4);
  });

  it('refuses another log key (403), another log (404) and malformed requests (400)', async () => {
    const w = witness();
    grow(log, 2);
    const impostor = new ReferenceLog(logKey(ORIGIN));
    grow(impostor, 2);
    expect((await w.addCheckpoint(request(impostor, 0))).status).to.equal(403);
    const other = new ReferenceLog(logKey('other.test/log'));
    grow(other, 2);
    expect((await w.addCheckpoint(request(other, 0))).status).to.equal(404);
    for (const bad of ['', 'old x\n\n', `old 0\nnot-base64\n\n${log.checkpoint()}`, `old 9\n\n${log.checkpoint()}`])
      expect((await w.addCheckpoint(bad)).status, JSON.stringify(bad.slice(0, 30))).to.equal(400);
    expect(w.kept()).to.equal(undefined);
  });
});
