/**
 * The transparency log (ADR 0078), measured on this machine:
 *  - appends per second through the client the API and worker use, N appends with C in flight,
 *    each answered once a published checkpoint covers it (target: at least 1,000 a second);
 *    baseline: the same requests' HTTP round trips to the log server's health route;
 *  - the device's check of a new timestamp (LogWatch: checkpoint signature, consistency from the
 *    checkpoint it kept, inclusion of the timestamp) in microseconds (target: at most 1 ms);
 *    baseline: one Ed25519 verification, what checking the timestamp's own signature costs;
 *  - the bytes a device downloads for that check (target: at most 1 KiB); baseline: the
 *    timestamp.json it already downloads. A refresh whose timestamp did not change adds none.
 * Checkpoints carry one witness's cosignature, as the stack's do, and the device requires it.
 * The log server is the real one (scripts/tlog, built by setup), its key in a SoftHSM2 token of
 * its own, on a temporary folder; its checkpoint interval is the stack's (100 ms), no witness.
 *
 *   bash scripts/node.sh dist/bench/log.js [--appends 4000] [--concurrency 512] [--json]
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  COSIGNATURE_V1,
  formatVerifierKey,
  logPolicy,
  LogWatch,
  metadataLeaf,
  type TrustedFile,
} from '@enigm-ota/client-sdk/transparency';

import { Hsm } from '../infra/hsm';
import { sizeOf, TransparencyLog } from '../infra/transparencyLog';
import { cosignatureLine } from '../transparency/witness';
import { ensureLogKey, LOG_KEY_LABEL } from '../trust/logKey';
import { intArg, loadNote, report, type Row, timed } from './lib';

const json = process.argv.includes('--json');
const log = (line: string) => process.stderr.write(`[log] ${line}\n`);
const MODULE = '/usr/lib/softhsm/libsofthsm2.so';
const ORIGIN = 'enigm-ota.bench/log';
const PORT = 19_990;
const TOKEN = randomBytes(24).toString('base64url');

/** A SoftHSM2 token of the benchmark's own with the log's key; its verifier key. */
async function token(dir: string): Promise<string> {
  const conf = join(dir, 'softhsm2.conf');
  await mkdir(join(dir, 'tokens'));
  await writeFile(conf, `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\n`);
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'bench', '--pin', '1234', '--so-pin', '5678'], {
    env: { ...process.env, SOFTHSM2_CONF: conf },
    stdio: 'ignore',
  });
  const hsm = Hsm.open({ module: MODULE, tokenLabel: 'bench', softhsmConf: conf }, '1234');
  try {
    return await ensureLogKey(hsm, {
      url: '',
      writeToken: TOKEN,
      origin: ORIGIN,
      keyFile: join(dir, 'log.vkey'),
      witnessKeyFiles: [],
    });
  } finally {
    hsm.close();
  }
}

async function startLog(dir: string): Promise<ChildProcess> {
  const child = spawn('tlog', [], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      SOFTHSM2_CONF: join(dir, 'softhsm2.conf'),
      OTA_TLOG_DIR: join(dir, 'tlog'),
      OTA_TLOG_ADDRESS: `127.0.0.1:${PORT}`,
      OTA_TLOG_ORIGIN: ORIGIN,
      OTA_TLOG_KEY_LABEL: LOG_KEY_LABEL,
      OTA_TLOG_WRITE_TOKEN: TOKEN,
      OTA_HSM_MODULE: MODULE,
      OTA_HSM_TOKEN: 'bench',
      OTA_HSM_PIN: '1234',
      OTA_TLOG_CHECKPOINT_MS: '100',
    },
  });
  for (let i = 0; i < 100; i++) {
    if (
      await fetch(`http://127.0.0.1:${PORT}/healthz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return child;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error('the log server did not start');
}

/** `total` calls of `one`, `concurrency` at a time; calls per second. */
async function rate(total: number, concurrency: number, one: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const { ms } = await timed(() =>
    Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total) await one(next++);
      }),
    ),
  );
  return (total / ms) * 1000;
}

async function main(): Promise<void> {
  const appends = intArg('appends', 4000, 100, 1_000_000);
  const concurrency = intArg('concurrency', 512, 1, 2048);
  const load = loadavg()[0]!;
  const dir = await mkdtemp(join(tmpdir(), 'ota-bench-log-'));
  let server: ChildProcess | undefined;
  try {
    const vkey = await token(dir);
    server = await startLog(dir);
    const tlog = new TransparencyLog({ url: `http://127.0.0.1:${PORT}`, writeToken: TOKEN });
    log(`${appends} appends, ${concurrency} in flight`);
    const health = await rate(appends, concurrency, () =>
      fetch(`http://127.0.0.1:${PORT}/healthz`).then((r) => r.text()),
    );
    const perSecond = await rate(appends, concurrency, (i) =>
      tlog.append(Buffer.from(JSON.stringify({ v: 1, kind: 'bench', i, pad: 'x'.repeat(200) }))),
    );
    const device = await deviceCheck(tlog, { dir, vkey });
    const rows: Row[] = [
      {
        measure: 'appends per second',
        baseline: `${health.toFixed(0)} req/s`,
        ours: `${perSecond.toFixed(0)}/s`,
        ratio: perSecond / health,
        target: '>= 1000/s',
        met: perSecond >= 1000,
      },
      {
        measure: `device check of a new timestamp (log of ${device.size})`,
        baseline: `${device.verifyUs.toFixed(0)} us`,
        ours: `${device.checkUs.toFixed(0)} us`,
        ratio: device.checkUs / device.verifyUs,
        target: '<= 1000 us',
        met: device.checkUs <= 1000,
      },
      {
        measure: 'its kept state, written behind the check (synced)',
        baseline: `${device.checkUs.toFixed(0)} us`,
        ours: `${device.writeUs.toFixed(0)} us`,
        ratio: device.writeUs / device.checkUs,
      },
      {
        measure: 'bytes a device downloads for it',
        baseline: `${device.timestampBytes} B`,
        ours: `${device.answerBytes} B`,
        ratio: device.answerBytes / device.timestampBytes,
        target: '<= 1024 B',
        met: device.answerBytes <= 1024,
      },
    ];
    report(`Transparency log: ${appends} appends, ${concurrency} in flight; ${loadNote(load)}`, rows, json);
  } finally {
    server?.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A device's check of a new timestamp against the real log: the API's answer built from the
 * log's own proofs, the device having kept the checkpoint of its previous timestamp.
 */
async function deviceCheck(
  tlog: TransparencyLog,
  o: { dir: string; vkey: string },
): Promise<{
  size: number;
  checkUs: number;
  writeUs: number;
  verifyUs: number;
  answerBytes: number;
  timestampBytes: number;
}> {
  // A signed timestamp of the usual size: its own signature is the baseline's work.
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const body = Buffer.from(
    JSON.stringify({ _type: 'timestamp', version: 2, meta: { 'snapshot.json': { version: 9 } } }),
  );
  const signature = sign(null, body, privateKey);
  const file = (version: number): TrustedFile => ({
    file: 'release/timestamp.json',
    bytes: Buffer.from(
      JSON.stringify({ signatures: [{ sig: signature.toString('hex') }], signed: { version, body: body.toString() } }),
    ),
  });
  const before = await tlog.append(metadataLeaf(file(1).file, file(1).bytes));
  const after = await tlog.append(metadataLeaf(file(2).file, file(2).bytes));
  const size = sizeOf(after.checkpoint);
  const keptSize = sizeOf(before.checkpoint);
  const witness = cosigner();
  const answer = {
    checkpoint: witness.cosign(after.checkpoint),
    index: after.index,
    inclusion: Buffer.concat(await tlog.inclusionProof(after.index, size)).toString('base64'),
    consistency: Buffer.concat(await tlog.consistencyProof(keptSize, size)).toString('base64'),
  };
  const keptAnswer = {
    checkpoint: witness.cosign(before.checkpoint),
    index: before.index,
    inclusion: Buffer.concat(await tlog.inclusionProof(before.index, keptSize)).toString('base64'),
    consistency: '',
  };
  const policy = logPolicy({ origin: ORIGIN, logKey: o.vkey, witnesses: [witness.vkey], quorum: 1 });
  const rounds = 300;
  let total = 0;
  let writing = 0;
  for (let i = 0; i < rounds; i++) {
    const stateFile = join(o.dir, `device-${i}.json`);
    const before = new LogWatch({ policy, stateFile, proofs: () => Promise.resolve(keptAnswer) });
    await before.check([file(1)]);
    await before.settled();
    const watch = new LogWatch({ policy, stateFile, proofs: () => Promise.resolve(answer) });
    const start = process.hrtime.bigint();
    await watch.check([file(2)]);
    const checked = process.hrtime.bigint();
    // The kept state is written behind the check, while the device's refresh goes on.
    await watch.settled();
    total += Number(checked - start) / 1000;
    writing += Number(process.hrtime.bigint() - checked) / 1000;
  }
  const startVerify = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) verify(null, body, publicKey, signature);
  const verifyUs = Number(process.hrtime.bigint() - startVerify) / 1000 / rounds;
  return {
    size,
    checkUs: total / rounds,
    writeUs: writing / rounds,
    verifyUs,
    answerBytes: Buffer.byteLength(JSON.stringify(answer)),
    timestampBytes: file(2).bytes.length,
  };
}

/** A witness of the benchmark's own: its verifier key, and a checkpoint with its cosignature added. */
function cosigner(): { vkey: string; cosign(checkpoint: string): string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const witness = {
    name: 'bench-witness',
    privateKey,
    raw: publicKey.export({ format: 'der', type: 'spki' }).subarray(-32),
  };
  return {
    vkey: formatVerifierKey(witness.name, COSIGNATURE_V1, witness.raw),
    cosign: (checkpoint) => `${checkpoint}${cosignatureLine(witness, checkpoint, Math.floor(Date.now() / 1000))}`,
  };
}

void main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
