import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';

import {
  COSIGNATURE_V1,
  cosignedMessage,
  ED25519,
  formatVerifierKey,
  keyHash,
  logPolicy,
  openCheckpoint,
  parseVerifierKey,
  signatureLine,
} from '@enigm-ota/client-sdk/transparency';
import { expect } from 'chai';

/** An Ed25519 pair, its raw public key, and its verifier key of `type` under `name`. */
function keyPair(name: string, type: typeof ED25519 | typeof COSIGNATURE_V1) {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  return { name, privateKey, raw, vkey: formatVerifierKey(name, type, raw) };
}

const ORIGIN = 'enigm-ota.test/log';
const ROOT = Buffer.alloc(32, 7).toString('base64');
const text = (size = 42) => `${ORIGIN}\n${size}\n${ROOT}\n`;

function logLine(k: ReturnType<typeof keyPair>, body: string, key: KeyObject = k.privateKey): string {
  return signatureLine(k.name, keyHash(k.name, ED25519, k.raw), sign(null, Buffer.from(body), key));
}
function cosignLine(w: ReturnType<typeof keyPair>, body: string, time: number): string {
  const stamp = Buffer.alloc(8);
  stamp.writeBigUInt64BE(BigInt(time));
  const sig = sign(null, cosignedMessage(body, time), w.privateKey);
  return signatureLine(w.name, keyHash(w.name, COSIGNATURE_V1, w.raw), Buffer.concat([stamp, sig]));
}

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
};

describe('checkpoints: signed notes, log keys and witness cosignatures (client-sdk/transparency)', () => {
  const log = keyPair(ORIGIN, ED25519);
  const w1 = keyPair('witness-one', COSIGNATURE_V1);
  const w2 = keyPair('witness-two', COSIGNATURE_V1);
  const policy = (quorum = 0) => logPolicy({ origin: ORIGIN, logKey: log.vkey, witnesses: [w1.vkey, w2.vkey], quorum });

  it('opens a checkpoint the log signed: origin, size, root', () => {
    const cp = openCheckpoint(`${text()}\n${logLine(log, text())}`, policy());
    expect(cp).to.include({ origin: ORIGIN, size: 42 });
    expect(cp.root.toString('base64')).to.equal(ROOT);
  });

  it('counts the witnesses whose cosignatures verify, and refuses below the quorum', () => {
    const body = text();
    const two = `${body}\n${logLine(log, body)}${cosignLine(w1, body, 1_700_000_000)}${cosignLine(w2, body, 1_700_000_001)}`;
    expect(openCheckpoint(two, policy(2)).witnessedBy).to.deep.equal(['witness-one', 'witness-two']);
    const one = `${body}\n${logLine(log, body)}${cosignLine(w1, body, 1_700_000_000)}`;
    expect(codeOf(() => openCheckpoint(one, policy(2)))).to.equal('LOG_UNWITNESSED');
    // A cosignature of another checkpoint (another size) counts for nothing here.
    const stale = `${body}\n${logLine(log, body)}${cosignLine(w1, body, 1)}${cosignLine(w2, text(41), 2)}`;
    expect(codeOf(() => openCheckpoint(stale, policy(2)))).to.equal('LOG_UNWITNESSED');
  });

  it('refuses another key, another origin, an altered body, and malformed notes, each with a code', () => {
    const other = keyPair(ORIGIN, ED25519);
    expect(codeOf(() => openCheckpoint(`${text()}\n${logLine(other, text())}`, policy()))).to.equal('LOG_UNTRUSTED');
    // The log's key hash and name, someone else's signature.
    expect(codeOf(() => openCheckpoint(`${text()}\n${logLine(log, text(), other.privateKey)}`, policy()))).to.equal(
      'LOG_UNTRUSTED',
    );
    expect(codeOf(() => openCheckpoint(`${text(43)}\n${logLine(log, text())}`, policy()))).to.equal('LOG_UNTRUSTED');
    const elsewhere = `other.test/log\n42\n${ROOT}\n`;
    expect(codeOf(() => openCheckpoint(`${elsewhere}\n${logLine(log, elsewhere)}`, policy()))).to.equal(
      'LOG_UNTRUSTED',
    );
    for (const bad of [
      `${text()}${logLine(log, text())}`,
      `${ORIGIN}\n042\n${ROOT}\n\n${logLine(log, `${ORIGIN}\n042\n${ROOT}\n`)}`,
      `${ORIGIN}\n42\nshort\n\n${logLine(log, `${ORIGIN}\n42\nshort\n`)}`,
      `${text()}\r\n${logLine(log, text())}`,
      `${text()}\n\u2014 ${ORIGIN} not-base64!\n`,
      `${text()}\n${'x'.repeat(5000)}\n`,
    ])
      expect(
        codeOf(() => openCheckpoint(bad, policy())),
        JSON.stringify(bad.slice(0, 60)),
      ).to.equal('LOG_INVALID');
  });

  it('parses a verifier key whose base64 holds a "+", as keys often do', () => {
    let k = keyPair(ORIGIN, ED25519);
    while (!k.vkey.split('+').slice(2).join('+').includes('+')) k = keyPair(ORIGIN, ED25519);
    expect(parseVerifierKey(k.vkey).name).to.equal(ORIGIN);
    const body = text();
    expect(openCheckpoint(`${body}\n${logLine(k, body)}`, logPolicy({ origin: ORIGIN, logKey: k.vkey })).size).to.equal(
      42,
    );
  });

  it('parses verifier keys strictly and refuses a quorum larger than the witnesses', () => {
    expect(parseVerifierKey(log.vkey).name).to.equal(ORIGIN);
    const [name, hash, ...rest] = log.vkey.split('+') as [string, string, ...string[]];
    const key = rest.join('+');
    for (const bad of [`${name}+00000000+${key}`, `${name}+${hash}`, `na me+${hash}+${key}`, `${name}+${hash}+AAAA`])
      expect(
        codeOf(() => parseVerifierKey(bad)),
        bad,
      ).to.equal('LOG_INVALID');
    expect(codeOf(() => logPolicy({ origin: ORIGIN, logKey: log.vkey, witnesses: [w1.vkey], quorum: 2 }))).to.equal(
      'LOG_INVALID',
    );
  });
});
