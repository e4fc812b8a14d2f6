import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';

import {
  createArtifactGet,
  downloadVerified,
  newKeyAndCsr,
  TransportError,
  VerificationError,
} from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import { FleetCa } from '../../../infra/fleetCa';
import { rejectionOf } from '../../rejection';

/** A loopback artifact server that honours Range and can misbehave on purpose. */
function artifactServer(bytes: Buffer) {
  const seen: Array<string | undefined> = [];
  const behaviour = { cutAfter: -1, extra: 0 };
  const server: Server = createServer((req, res) => {
    seen.push(req.headers.range);
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    const body = Buffer.concat([bytes.subarray(start), Buffer.alloc(behaviour.extra)]);
    res.writeHead(m ? 206 : 200, { 'content-length': String(body.length) });
    if (behaviour.cutAfter >= 0) {
      // Send part of the body, then close the connection cleanly (FIN, not RST) so the
      // bytes already sent reach the device before the transfer breaks off.
      res.write(body.subarray(0, behaviour.cutAfter), () => setTimeout(() => res.socket?.end(), 50));
      behaviour.cutAfter = -1;
      return;
    }
    res.end(body);
  });
  return { server, seen, behaviour };
}

describe('downloadVerified', () => {
  const bytes = randomBytes(512 * 1024);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  let dir: string;
  let srv: ReturnType<typeof artifactServer>;
  let url: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-dl-'));
    srv = artifactServer(bytes);
    await new Promise<void>((r) => srv.server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(srv.server.address() as AddressInfo).port}/a`;
  });
  afterEach(async () => {
    srv.server.closeAllConnections();
    await new Promise((r) => srv.server.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps the part received before an interruption and resumes it with a Range request', async () => {
    const file = join(dir, 'a.partial');
    srv.behaviour.cutAfter = 200 * 1024;
    const first = await rejectionOf(downloadVerified({ url, length: bytes.length, sha256 }, file, { timeoutMs: 5000 }));
    expect(first).to.be.instanceOf(TransportError).and.have.property('code', 'DOWNLOAD_FAILED');
    const kept = (await stat(file)).size;
    expect(kept).to.be.greaterThan(0).and.below(bytes.length);

    await downloadVerified({ url, length: bytes.length, sha256 }, file, { timeoutMs: 5000 });
    expect(srv.seen.at(-1)).to.equal(`bytes=${kept}-`);
    expect((await readFile(file)).equals(bytes)).to.equal(true);
  });

  it('verifies the whole file: a tampered kept part fails the hash and is deleted', async () => {
    const file = join(dir, 'a.partial');
    const tampered = Buffer.from(bytes.subarray(0, 1000));
    tampered[10] = tampered[10]! ^ 0xff;
    await writeFile(file, tampered);
    const err = await rejectionOf(downloadVerified({ url, length: bytes.length, sha256 }, file, { timeoutMs: 5000 }));
    expect(err).to.be.instanceOf(VerificationError).and.have.property('code', 'TARGET_HASH_MISMATCH');
    expect(await stat(file).catch(() => undefined)).to.equal(undefined);
  });

  it('stops endless data at the signed length', async () => {
    srv.behaviour.extra = 1024 * 1024;
    const err = await rejectionOf(
      downloadVerified({ url, length: bytes.length, sha256 }, join(dir, 'b.partial'), { timeoutMs: 5000 }),
    );
    expect(err).to.be.instanceOf(VerificationError).and.have.property('code', 'TARGET_LENGTH_MISMATCH');
  });
});

describe('downloadVerified over the device transport', () => {
  it('presents the device certificate to the API and to the storage it redirects to, and resumes there', async () => {
    const bytes = randomBytes(256 * 1024);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const ca = FleetCa.ephemeral();
    const server = ca.issueServer('api', ['127.0.0.1']);
    const tls = {
      cert: server.certPem,
      key: server.keyPem,
      ca: ca.certPem,
      requestCert: true,
      rejectUnauthorized: true,
    };
    const device = newKeyAndCsr('dl-device');
    const identity = {
      caPem: ca.certPem,
      keyPem: device.keyPem,
      certPem: ca.signDeviceCsr(device.csrPem, 'dl-device', 1).certPem,
    };
    const seen: Array<{ server: string; peer: string; range: string | undefined }> = [];
    const note = (server: string, req: IncomingMessage) =>
      seen.push({
        server,
        peer: String((req.socket as TLSSocket).getPeerCertificate().subject.CN),
        range: req.headers.range,
      });
    const storage = createTlsServer(tls, (req, res) => {
      note('storage', req);
      const start = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
      res.writeHead(start ? 206 : 200, { 'content-length': String(bytes.length - start) });
      res.end(bytes.subarray(start));
    });
    const api = createTlsServer(tls, (req, res) => {
      note('api', req);
      res.writeHead(302, { location: `https://127.0.0.1:${(storage.address() as AddressInfo).port}/presigned` }).end();
    });
    await Promise.all([storage, api].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
    const dir = await mkdtemp(join(tmpdir(), 'ota-dl-tls-'));
    try {
      const file = join(dir, 'a.partial');
      await writeFile(file, bytes.subarray(0, 1000));
      const url = `https://127.0.0.1:${(api.address() as AddressInfo).port}/v1/artifacts/${sha256}`;
      await downloadVerified({ url, length: bytes.length, sha256 }, file, {
        timeoutMs: 5000,
        get: createArtifactGet(identity),
      });
      expect((await readFile(file)).equals(bytes)).to.equal(true);
      expect(seen).to.deep.equal([
        { server: 'api', peer: 'dl-device', range: 'bytes=1000-' },
        { server: 'storage', peer: 'dl-device', range: 'bytes=1000-' },
      ]);
    } finally {
      for (const s of [storage, api]) {
        s.closeAllConnections();
        await new Promise((r) => s.close(r));
      }
      await rm(dir, { recursive: true, force: true });
    }
  });
});
