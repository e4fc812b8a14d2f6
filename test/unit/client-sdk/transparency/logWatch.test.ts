import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  COSIGNATURE_V1,
  formatVerifierKey,
  keptCheckpoint,
  leafHash,
  logPolicy,
  logStateFile,
  LogWatch,
  metadataLeaf,
  type TrustedFile,
} from '@enigm-ota/client-sdk/transparency';
import { expect } from 'chai';

import { logKey, ReferenceLog } from './referenceLog';

const ORIGIN = 'enigm-ota.test/log';
const FILE = 'release/timestamp.json';
const timestamp = (version: number): TrustedFile => ({
  file: FILE,
  bytes: Buffer.from(JSON.stringify({ signed: { _type: 'timestamp', version } })),
});

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

function codeOfSync(f: () => unknown): string | undefined {
  try {
    f();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('LogWatch: a device checks its timestamps are in one log history (client-sdk/transparency)', () => {
  const key = logKey(ORIGIN);
  let dir: string;
  let log: ReferenceLog;
  /** Logs a metadata file as the signer does, with some unrelated entries around it. */
  const logFile = (into: ReferenceLog, f: TrustedFile) => {
    into.append(Buffer.from(`decision before ${into.entries.length}`));
    return into.append(metadataLeaf(f.file, f.bytes));
  };
  /** A device whose (untrusted) API answers from `serving()`, counting its requests. */
  const device = (
    name: string,
    serving: () => ReferenceLog,
    policy = logPolicy({ origin: ORIGIN, logKey: key.vkey }),
  ) => {
    const asked: Array<{ leaf: string; from: number }> = [];
    const watch = new LogWatch({
      policy,
      stateFile: join(dir, `${name}.json`),
      proofs: (leaf, from) => {
        asked.push({ leaf, from });
        const log = serving();
        const index = log.entries.findLastIndex((e) => e.equals(leafOf(leaf, log)));
        return Promise.resolve(log.answer(index < 0 ? 0 : index, from));
      },
    });
    return { watch, asked };
  };
  /** The entry whose leaf hash is `hex` (the API's index lookup). */
  const leafOf = (hex: string, l: ReferenceLog) =>
    l.entries.find((e) => leafHash(e).toString('hex') === hex) ?? Buffer.alloc(0);

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-logwatch-'));
    log = new ReferenceLog(key);
  });
  // A state write may still be under way behind the last check: removal retries until it landed.
  afterEach(() => rm(dir, { recursive: true, force: true, maxRetries: 10 }));

  it('proves each new timestamp once, from the checkpoint it kept; an unchanged one costs no request', async () => {
    const a = device('a', () => log);
    logFile(log, timestamp(1));
    await a.watch.check([timestamp(1)]);
    expect(a.asked).to.have.length(1);
    expect(a.asked[0]!.from).to.equal(0);
    await a.watch.check([timestamp(1)]);
    expect(a.asked, 'nothing new: nothing asked').to.have.length(1);
    logFile(log, timestamp(2));
    await a.watch.check([timestamp(2)]);
    expect(a.asked[1]!.from, 'consistency from the size it kept').to.equal(2);
    expect(a.watch.kept()?.size).to.equal(4);
  });

  it('a split view: a device shown a fork refuses it, and a device that saw the fork refuses the real log', async () => {
    logFile(log, timestamp(1));
    const fork = log.fork();
    logFile(log, timestamp(2));
    logFile(fork, timestamp(3));
    // Device A follows the real log; device B is shown the fork (the API lies to it alone).
    let aServing = log;
    const a = device('a', () => aServing);
    const b = device('b', () => fork);
    await a.watch.check([timestamp(2)]);
    await b.watch.check([timestamp(3)]);
    // The API now shows A the fork: A kept the real log at 4, the fork at 4 is another tree.
    logFile(fork, timestamp(4));
    aServing = fork;
    expect(await codeOf(a.watch.check([timestamp(4)]))).to.equal('LOG_INCONSISTENT');
    // B, which saw the fork, is shown the real log later (after a restart): refused as well.
    logFile(log, timestamp(5));
    await b.watch.settled();
    const bReal = device('b', () => log);
    expect(await codeOf(bReal.watch.check([timestamp(5)]))).to.equal('LOG_INCONSISTENT');
    // Neither kept what it refused.
    expect(a.watch.kept()?.note).to.equal(log.checkpoint(4));
    expect(bReal.watch.kept()?.note).to.equal(fork.checkpoint(4));
  });

  it('refuses a timestamp the log does not hold, another tree at the size kept, another key, a missing witness, bad answers', async () => {
    logFile(log, timestamp(1));
    const a = device('a', () => log);
    expect(await codeOf(a.watch.check([timestamp(9)])), 'not in the log').to.equal('LOG_NOT_INCLUDED');
    await a.watch.check([timestamp(1)]);
    await a.watch.settled();
    const shorter = new ReferenceLog(key);
    shorter.append(log.entries[0]!);
    shorter.append(metadataLeaf(FILE, timestamp(2).bytes));
    logFile(log, timestamp(1));
    const shrunk = device('a', () => shorter);
    expect(await codeOf(shrunk.watch.check([timestamp(2)]))).to.equal('LOG_INCONSISTENT');
    const other = new ReferenceLog(logKey(ORIGIN));
    logFile(other, timestamp(3));
    expect(await codeOf(device('c', () => other).watch.check([timestamp(3)]))).to.equal('LOG_UNTRUSTED');
    const witness = formatVerifierKey('witness-one', COSIGNATURE_V1, logKey('witness-one').raw);
    const witnessed = logPolicy({ origin: ORIGIN, logKey: key.vkey, witnesses: [witness], quorum: 1 });
    expect(await codeOf(device('d', () => log, witnessed).watch.check([timestamp(1)]))).to.equal('LOG_UNWITNESSED');
    const garbage = new LogWatch({
      policy: logPolicy({ origin: ORIGIN, logKey: key.vkey }),
      stateFile: join(dir, 'g.json'),
      proofs: () => Promise.resolve({ checkpoint: log.checkpoint(), index: 1, inclusion: 'AAAA', consistency: '' }),
    });
    expect(await codeOf(garbage.check([timestamp(1)]))).to.equal('LOG_INVALID');
  });

  it('keeps its state behind the check; a state it could not write is refused once, then read from disk', async () => {
    logFile(log, timestamp(1));
    const a = device('a', () => log);
    await a.watch.check([timestamp(1)]);
    await a.watch.settled();
    const written = JSON.parse(await readFile(join(dir, 'a.json'), 'utf8')) as { checkpoint: string };
    expect(written.checkpoint).to.equal(a.watch.kept()?.note);
    // A restart reads what was written.
    expect(device('a', () => log).watch.kept()?.size).to.equal(a.watch.kept()?.size);

    const lost = new LogWatch({
      policy: logPolicy({ origin: ORIGIN, logKey: key.vkey }),
      stateFile: join(dir, 'no-such-folder', 'x.json'),
      proofs: (leaf, from) =>
        Promise.resolve(
          log.answer(
            log.entries.findLastIndex((e) => leafHash(e).toString('hex') === leaf),
            from,
          ),
        ),
    });
    await lost.check([timestamp(1)]);
    expect(await codeOf(lost.settled())).to.equal('LOG_INVALID');
    expect(await codeOf(lost.check([timestamp(1)])), 'refused at the next check').to.equal('LOG_INVALID');
    expect(lost.kept(), 'nothing on disk: nothing kept').to.equal(undefined);
    await lost.check([timestamp(1)]);
  });

  it('tells what a device kept, checked again against its pins; a state over its limit is refused unread', async () => {
    const pinned = { key: key.vkey };
    expect(keptCheckpoint(dir, pinned), 'before the first check').to.equal(undefined);
    await mkdir(join(dir, 'metadata'));
    const { watch } = device('metadata/log', () => log);
    logFile(log, timestamp(1));
    logFile(log, timestamp(2));
    await watch.check([timestamp(2)]);
    await watch.settled();
    const kept = keptCheckpoint(dir, pinned);
    expect(kept).to.include({ origin: ORIGIN, size: 4 });
    expect(kept?.note).to.equal(log.checkpoint());
    const other = logKey(ORIGIN);
    expect(codeOfSync(() => keptCheckpoint(dir, { key: other.vkey }))).to.equal('LOG_UNTRUSTED');

    await writeFile(logStateFile(dir), Buffer.alloc(64 * 1024 + 1, 0x20));
    expect(codeOfSync(() => keptCheckpoint(dir, pinned))).to.equal('LOG_INVALID');
  });

  it('refuses a state file it did not write, rather than starting over', async () => {
    await writeFile(join(dir, 'a.json'), '{not json');
    logFile(log, timestamp(1));
    expect(await codeOf(device('a', () => log).watch.check([timestamp(1)]))).to.equal('LOG_INVALID');
    expect(await readFile(join(dir, 'a.json'), 'utf8')).to.equal('{not json');
  });
});
