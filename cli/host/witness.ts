import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import { dirname } from 'node:path';

import { logPolicy, parseVerifierKey } from '@enigm-ota/client-sdk/transparency';

import { InputError } from '../../common/errors';
import type { Config } from '../../infra/config';
import { MAX_WITNESS_BODY, Witness } from '../../transparency/witness';
import type { Invocation } from '../args';

export interface WitnessFlags {
  key?: string;
  name?: string;
  listen?: string;
  state?: string;
  'log-key'?: string;
}

/**
 * `ota log witness --key FILE [--name NAME] [--listen HOST:PORT] [--state FILE] [--log-key FILE]`:
 * a witness of the transparency log (tlog-witness protocol, POST /add-checkpoint), until
 * stopped. Its Ed25519 key is made in --key on first start (owner-only); its verifier key is
 * written beside it (<key>.vkey) and served at GET /vkey: the log's witness policy and
 * devices pin that.
 */
export async function witness(config: Config, { flags, out }: Invocation<WitnessFlags>): Promise<number> {
  const keyFile = flags.key;
  if (!keyFile) throw new InputError('give --key FILE (the witness key: made there on first start)');
  const name = flags.name ?? 'enigm-ota-witness';
  if (!/^[\x21-\x2a\x2c-\x7e]{1,128}$/.test(name)) throw new InputError('--name: printable, no spaces or "+"');
  const logKeyFile = flags['log-key'] ?? config.transparency?.keyFile;
  if (!logKeyFile || !existsSync(logKeyFile))
    throw new InputError(
      `give --log-key FILE: the log's verifier key${logKeyFile ? ` (${logKeyFile} is missing)` : ''}`,
    );
  const logKey = (await readFile(logKeyFile, 'utf8')).slice(0, 1024).trim();
  const [host, port] = listenAddress(flags.listen ?? '127.0.0.1:7310');
  const w = new Witness({
    name,
    privateKey: await witnessKey(keyFile),
    log: logPolicy({ origin: parseVerifierKey(logKey).name, logKey }),
    stateFile: flags.state ?? `${keyFile}.state`,
  });
  await writeFile(`${keyFile}.vkey`, `${w.verifierKey()}\n`);
  const server = createServer((req, res) => {
    // A client that went away (Tessera's own timeout, a reset) ends its request, never the witness.
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    answer(w, req)
      .catch((err: unknown) => ({
        status: 500,
        contentType: 'text/plain; charset=utf-8',
        body: `not cosigned: ${(err as Error).message}\n`.slice(0, 500),
      }))
      .then((a) => {
        if (res.destroyed) return;
        res.writeHead(a.status, { 'content-type': a.contentType, 'content-length': Buffer.byteLength(a.body) });
        res.end(a.body);
      })
      .catch(() => undefined);
  });
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  out.progress(`witness ${w.verifierKey()} listening on http://${host}:${port}`);
  await new Promise<void>((resolve) => {
    const stop = () => server.close(() => resolve());
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  return 0;
}

async function answer(
  w: Witness,
  req: IncomingMessage,
): Promise<{ status: number; contentType: string; body: string }> {
  const plain = (status: number, body: string) => ({ status, contentType: 'text/plain; charset=utf-8', body });
  const path = req.url?.split('?')[0];
  if (req.method === 'GET' && path === '/healthz') return plain(200, 'ok\n');
  if (req.method === 'GET' && path === '/vkey') return plain(200, `${w.verifierKey()}\n`);
  if (path !== '/add-checkpoint') return plain(404, 'not found\n');
  if (req.method !== 'POST') return plain(405, 'POST only\n');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_WITNESS_BODY) return plain(413, `at most ${MAX_WITNESS_BODY} bytes\n`);
    chunks.push(chunk as Buffer);
  }
  return w.addCheckpoint(Buffer.concat(chunks).toString('utf8'));
}

/** The witness's own key: read, or made once (owner-only) when the file does not exist. */
async function witnessKey(file: string): Promise<KeyObject> {
  if (existsSync(file)) return createPrivateKey(await readFile(file, 'utf8'));
  const { privateKey } = generateKeyPairSync('ed25519');
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  return privateKey;
}

function listenAddress(text: string): [string, number] {
  const m = /^([0-9.]{7,15}|\[[0-9a-f:]+\]|localhost):([0-9]{1,5})$/.exec(text);
  const port = Number(m?.[2]);
  if (!m || port < 1 || port > 65535) throw new InputError('--listen is HOST:PORT');
  return [m[1]!, port];
}
