import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { expect } from 'chai';

import { AdminApiClient } from '../../../infra/adminApiClient';

/** A plain HTTP stand-in for one API replica: answers every request with `status` and its name. */
async function replica(name: string, status = 200): Promise<{ url: string; hits: () => number; server: Server }> {
  let hits = 0;
  const server = createServer((_req, res) => {
    hits++;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(status === 200 ? { name } : { error: { code: 'INTERNAL', message: 'boom' } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits: () => hits, server };
}

/** A port nothing listens on: a stopped replica. */
async function stoppedReplica(): Promise<string> {
  const r = await replica('gone');
  await new Promise((done) => r.server.close(done));
  return r.url;
}

describe('AdminApiClient with several API replicas (OTA_API_URL a, b)', () => {
  const servers: Server[] = [];
  after(() => servers.forEach((s) => s.close()));

  it('moves to the next replica when one refuses the connection, and stays there', async () => {
    const b = await replica('b');
    servers.push(b.server);
    const api = new AdminApiClient({ url: await stoppedReplica(), caPem: '', failoverUrls: [b.url] });
    try {
      expect(await api.get('/x')).to.deep.equal({ name: 'b' });
      expect(await api.get('/x')).to.deep.equal({ name: 'b' });
      expect(b.hits()).to.equal(2);
    } finally {
      await api.close();
    }
  });

  it("takes a replica's error answer as the answer: the request reached it, so it is not sent twice", async () => {
    const a = await replica('a', 500);
    const b = await replica('b');
    servers.push(a.server, b.server);
    const api = new AdminApiClient({ url: a.url, caPem: '', failoverUrls: [b.url] });
    try {
      const err = await api.send('POST', '/x', {}).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).to.have.property('code', 'INTERNAL');
      expect(b.hits()).to.equal(0);
    } finally {
      await api.close();
    }
  });

  it('reports UNAVAILABLE when every replica refuses', async () => {
    const api = new AdminApiClient({ url: await stoppedReplica(), caPem: '', failoverUrls: [await stoppedReplica()] });
    try {
      expect(
        await api.get('/x').then(
          () => undefined,
          (e: unknown) => e,
        ),
      ).to.have.property('code', 'UNAVAILABLE');
    } finally {
      await api.close();
    }
  });
});
