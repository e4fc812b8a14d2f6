import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  COSIGNATURE_V1,
  cosignedAt,
  cosignedMessage,
  ED25519,
  formatVerifierKey,
  keyHash,
  leafHash,
  logPolicy,
  LogWatch,
  metadataLeaf,
  openCheckpoint,
  openNote,
  parseVerifierKey,
  rootOf,
  signatureLine,
  verifyConsistency,
  verifyInclusion,
} from '@enigm-ota/client-sdk/transparency';
import { expect } from 'chai';

import { logKey, ReferenceLog } from './referenceLog';

/*
 * What an attacker controls reaches these checks: notes, keys, proofs, API answers and (on a
 * tampered device) the state file. Each malformed or out-of-range input is refused with a
 * code or counts for nothing; none is taken for a valid one.
 */
const ORIGIN = 'enigm-ota.test/log';
const codeOf = async (fn: () => unknown): Promise<string | undefined> => {
  try {
    await fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
};
const raw = () => generateKeyPairSync('ed25519');
const rawOf = (k: ReturnType<typeof raw>) => k.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);

describe('transparency checks on untrusted input (client-sdk/transparency)', () => {
  const key = logKey(ORIGIN);
  const log = new ReferenceLog(key);
  log.append(Buffer.from('one'));
  log.append(Buffer.from('two'));
  const body = `${ORIGIN}\n2\n${log.checkpoint().split('\n')[2]}\n`;

  it('Merkle: the empty tree, and proofs whose hashes are not 32 bytes', () => {
    expect(rootOf([]).toString('hex')).to.equal('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    const root = rootOf([leafHash(Buffer.from('a')), leafHash(Buffer.from('b'))]);
    const short = [Buffer.alloc(31)];
    expect(verifyInclusion({ index: 0, size: 2, hash: leafHash(Buffer.from('a')) }, short, root)).to.equal(false);
    expect(verifyConsistency({ size: 1, root }, { size: 2, root }, short)).to.equal(false);
  });

  it('keys: another type, a witness listed twice, a cosignature key as the log key', async () => {
    const k = raw();
    const typeTwo = `${ORIGIN}+${keyHash(ORIGIN, 2, rawOf(k)).toString('hex')}+${Buffer.concat([Buffer.of(2), rawOf(k)]).toString('base64')}`;
    expect(await codeOf(() => parseVerifierKey(typeTwo))).to.equal('LOG_INVALID');
    const k2 = rawOf(raw());
    const w = formatVerifierKey('w', COSIGNATURE_V1, k2);
    for (const twice of [
      [w, w],
      [w, formatVerifierKey('w-again', COSIGNATURE_V1, k2)],
      [formatVerifierKey('w', ED25519, k2)],
    ])
      expect(await codeOf(() => logPolicy({ origin: ORIGIN, logKey: key.vkey, witnesses: twice, quorum: 1 }))).to.equal(
        'LOG_INVALID',
      );
    const asLog = formatVerifierKey(ORIGIN, COSIGNATURE_V1, key.raw);
    expect(await codeOf(() => openCheckpoint(log.checkpoint(), logPolicy({ origin: ORIGIN, logKey: asLog })))).to.equal(
      'LOG_UNTRUSTED',
    );
  });

  it('notes: too many signature lines, a body of only an origin, an empty extension line', async () => {
    const policy = logPolicy({ origin: ORIGIN, logKey: key.vkey });
    const line = log.checkpoint().split('\n\n')[1]!;
    expect(await codeOf(() => openCheckpoint(`${body}\n${line.repeat(33)}`, policy))).to.equal('LOG_INVALID');
    expect(await codeOf(() => openCheckpoint(`${ORIGIN}\n\n${line}`, policy))).to.equal('LOG_INVALID');
    expect(await codeOf(() => openCheckpoint(`${body}\nextension\n\n${line}`, policy))).to.equal('LOG_INVALID');
  });

  it('cosignatures that count for nothing: an Ed25519 key as a witness, a short body, a time past 2^53', () => {
    const wk = raw();
    const name = 'witness';
    const asEd = formatVerifierKey(name, ED25519, rawOf(wk));
    const cosig = formatVerifierKey(name, COSIGNATURE_V1, rawOf(wk));
    const hash = keyHash(name, COSIGNATURE_V1, rawOf(wk));
    const stamp = (t: bigint) => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64BE(t);
      return b;
    };
    const huge = 2n ** 60n;
    const lines = [
      signatureLine(name, hash, sign(null, Buffer.from(body), wk.privateKey)),
      signatureLine(
        name,
        hash,
        Buffer.concat([stamp(huge), sign(null, cosignedMessage(body, Number(huge)), wk.privateKey)]),
      ),
    ].join('');
    const note = `${log.checkpoint()}${lines}`;
    expect(
      openCheckpoint(note, logPolicy({ origin: ORIGIN, logKey: key.vkey, witnesses: [cosig] })).witnessedBy,
    ).to.deep.equal([]);
    expect(cosignedAt(openNote(note), parseVerifierKey(asEd))).to.equal(undefined);
  });

  describe('a device state and API answers', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'ota-logwatch-input-'));
    });
    afterEach(() => rm(dir, { recursive: true, force: true, maxRetries: 10 }));
    const file = { file: 'release/timestamp.json', bytes: Buffer.from('{"signed":{"version":1}}') };
    const watch = (answer: unknown, stateFile = join(dir, 's.json')) =>
      new LogWatch({
        policy: logPolicy({ origin: ORIGIN, logKey: key.vkey }),
        stateFile,
        proofs: () => Promise.resolve(answer),
      });

    it('keeps nothing before its first check, and refuses a state file larger than it writes', async () => {
      expect(watch({}).kept()).to.equal(undefined);
      await writeFile(join(dir, 'big.json'), `{"proved":{},"pad":"${'x'.repeat(70 * 1024)}"}`);
      expect(await codeOf(() => watch({}, join(dir, 'big.json')).check([file]))).to.equal('LOG_INVALID');
    });

    it('refuses answers of the wrong shape and proofs of more than 63 hashes', async () => {
      const good = { checkpoint: log.checkpoint(), index: 0 };
      for (const bad of [
        { ...good, inclusion: 7, consistency: '' },
        { ...good, inclusion: Buffer.alloc(64 * 32).toString('base64'), consistency: '' },
        { ...good, index: 'zero', inclusion: '', consistency: '' },
        { checkpoint: 5, index: 0, inclusion: '', consistency: '' },
        null,
      ])
        expect(await codeOf(() => watch(bad).check([file])), JSON.stringify(bad).slice(0, 60)).to.equal('LOG_INVALID');
    });

    it('refuses a log that went back to fewer entries than the device kept', async () => {
      const grown = new ReferenceLog(key);
      grown.append(Buffer.from('zero'));
      const index = grown.append(metadataLeaf(file.file, file.bytes));
      grown.append(Buffer.from('later'));
      const first = watch(grown.answer(index, 0));
      await first.check([file]);
      await first.settled();
      const shorter = new ReferenceLog(key);
      shorter.append(Buffer.from('zero'));
      const next = { file: file.file, bytes: Buffer.from('{"signed":{"version":2}}') };
      shorter.append(metadataLeaf(next.file, next.bytes));
      expect(await codeOf(() => watch(shorter.answer(1, 3)).check([next]))).to.equal('LOG_INCONSISTENT');
    });
  });
});
