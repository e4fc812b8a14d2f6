import { execFile } from 'node:child_process';
import type { IncomingMessage } from 'node:http';
import { createServer as createTlsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';

import {
  closeIdleConnections,
  createArtifactGet,
  createTransport,
  newKeyAndCsr,
  type TlsIdentity,
} from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import { FleetCa } from '../../../infra/fleetCa';
import { rejectionOf } from '../../rejection';

const run = promisify(execFile);

describe("the device transport (Node's http/https clients, mutual TLS)", () => {
  const ca = FleetCa.ephemeral();
  const serverCert = ca.issueServer('api', ['127.0.0.1']);
  const device = newKeyAndCsr('tr-device');
  const identity: TlsIdentity = {
    caPem: ca.certPem,
    keyPem: device.keyPem,
    certPem: ca.signDeviceCsr(device.csrPem, 'tr-device', 1).certPem,
  };
  const requests: Array<{ path: string; method: string; body: string }> = [];
  let server: Server;
  let base: string;

  before(async () => {
    server = createTlsServer(
      { cert: serverCert.certPem, key: serverCert.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true },
      (req: IncomingMessage, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          const path = req.url ?? '/';
          requests.push({ path, method: req.method ?? '', body });
          const hop = /^\/hop\/(\d+)$/.exec(path);
          if (hop) {
            res.writeHead(302, { location: `/hop/${Number(hop[1]) + 1}` }).end();
            return;
          }
          const peer = String((req.socket as TLSSocket).getPeerCertificate().subject.CN);
          res.writeHead(201, { 'content-type': 'application/json', 'x-seen': 'yes' });
          res.end(JSON.stringify({ peer, method: req.method, body }));
        });
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  beforeEach(() => {
    requests.length = 0;
  });

  it('presents the device certificate and reads the answer as fetch would: status, headers, a JSON body', async () => {
    const res = await createTransport(identity)(`${base}/v1/poll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ version: 'ü-1.0.0' }),
    });
    expect([res.status, res.ok, res.headers.get('X-Seen'), res.headers.get('absent')]).to.deep.equal([
      201,
      true,
      'yes',
      null,
    ]);
    expect(await res.json()).to.deep.equal({ peer: 'tr-device', method: 'POST', body: '{"version":"ü-1.0.0"}' });
  });

  it('keeps a connection for the next request, and closes it when told the transport is idle', async () => {
    const connections = () => new Promise<number>((r) => server.getConnections((_e, n) => r(n)));
    // Connections other tests' transports left open stay out of the count.
    const before = await connections();
    const transport = createTransport(identity);
    const artifacts = createArtifactGet(identity);
    await (await transport(`${base}/one`)).text();
    await (await transport(`${base}/two`)).text();
    const answer = await artifacts(`${base}/three`, { headers: {}, signal: AbortSignal.timeout(10_000) });
    answer.body.resume();
    await new Promise((r) => answer.body.once('end', r));
    expect(await connections()).to.equal(before + 2, 'one kept-alive connection each');
    closeIdleConnections(transport, artifacts);
    for (let i = 0; i < 50 && (await connections()) > before; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await connections()).to.equal(before);
    expect(await (await transport(`${base}/again`)).json()).to.include({ peer: 'tr-device' });
  });

  it('refuses a server whose certificate is not from the fleet CA', async () => {
    const other = FleetCa.ephemeral();
    const err = await rejectionOf(createTransport({ ...identity, caPem: other.certPem })(`${base}/v1/poll`));
    expect(String((err as { code?: string }).code)).to.match(/CERT|SIGNATURE|ISSUER/);
  });

  it('follows at most five redirects, answering the sixth as it came; none when asked not to', async () => {
    const followed = await createTransport(identity)(`${base}/hop/0`);
    expect(followed.status).to.equal(302);
    expect(requests.map((r) => r.path)).to.deep.equal([0, 1, 2, 3, 4, 5].map((n) => `/hop/${n}`));
    requests.length = 0;
    const manual = await createTransport(identity)(`${base}/hop/0`, { redirect: 'manual' });
    expect([manual.status, manual.headers.get('location'), requests.length]).to.deep.equal([302, '/hop/1', 1]);
    const landed = await createTransport(identity)(`${base}/done`);
    expect(((await landed.json()) as { peer: string }).peer).to.equal('tr-device');
  });

  it('loads neither the undici package nor the fetch built into Node for a request (each costs a device 15-28 MiB)', async () => {
    const script = `
      const { createTransport, createArtifactGet } = require('@enigm-ota/client-sdk');
      const id = JSON.parse(process.argv[1]);
      (async () => {
        const res = await createTransport(id)(process.argv[2] + '/v1/poll', { method: 'POST', body: '{}' });
        await res.json();
        const art = await createArtifactGet(id)(process.argv[2] + '/a', { headers: {}, signal: AbortSignal.timeout(5000) });
        for await (const _ of art.body);
        const loaded = Object.keys(require.cache).filter((f) => f.includes('/node_modules/undici/'));
        const internal = process.moduleLoadList.filter((m) => m.includes('undici'));
        process.stdout.write(JSON.stringify({ loaded, internal }));
        process.exit(0);
      })();`;
    const { stdout } = await run(process.execPath, ['-e', script, JSON.stringify(identity), base], {
      cwd: __dirname,
    });
    expect(JSON.parse(stdout)).to.deep.equal({ loaded: [], internal: [] });
  });
});
