import type { IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';

import { createTransport, type Fetch, type TlsIdentity } from '@enigm-ota/client-sdk';

import type { Config } from '../../../infra/config';
import { FleetCa, fleetCaToken } from '../../../infra/fleetCa';

/** What a hostile delivery path can do: rewrite any response on its way to the device. */
export interface Tamper {
  /** Called for every response; return replacement bytes (or undefined to pass through). */
  (
    path: string,
    body: Buffer,
    request: { method: string; body: Buffer },
  ): Buffer | undefined | Promise<Buffer | undefined>;
}

export interface Proxy {
  url: string;
  tamper: Tamper | undefined;
  /** The device identity the proxy uses upstream (it relays a device it has compromised). */
  client: TlsIdentity | undefined;
  close(): Promise<void>;
}

/**
 * A man in the middle between the device and the real API, on loopback: the device's only
 * view of the world. It holds a server certificate from the fleet CA and the device's own
 * credentials for the API, so it models the strongest delivery-side attacker there is: one
 * who owns the API itself.
 */
export async function startProxy(
  upstream: string,
  tls: { certPem: string; keyPem: string; caPem: string },
): Promise<Proxy> {
  const proxy: Proxy = { url: '', tamper: undefined, client: undefined, close: () => Promise.resolve() };
  let transport: { for: TlsIdentity | undefined; fetch: Fetch } = {
    for: undefined,
    fetch: createTransport({ caPem: tls.caPem }),
  };
  const upstreamFetch = () => {
    if (transport.for !== proxy.client)
      transport = { for: proxy.client, fetch: createTransport(proxy.client ?? { caPem: tls.caPem }) };
    return transport.fetch;
  };
  const server: Server = createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    void (async () => {
      const requestBody = await readAll(req);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers))
        if (typeof v === 'string' && k !== 'host' && k !== 'content-length') headers[k] = v;
      // A tampering man in the middle wants whole files to work on: no 304 for what the device holds.
      if (proxy.tamper) delete headers['if-none-match'];
      const upstreamRes = await upstreamFetch()(`${upstream}${req.url}`, {
        method: req.method,
        headers,
        body: req.method === 'GET' || req.method === 'HEAD' ? undefined : requestBody.toString(),
      });
      let body: Buffer = Buffer.from(await upstreamRes.arrayBuffer());
      const replaced = await proxy.tamper?.(req.url ?? '', body, { method: req.method ?? 'GET', body: requestBody });
      const status = replaced !== undefined && upstreamRes.status === 206 ? 200 : upstreamRes.status;
      if (replaced !== undefined) body = replaced;
      res.writeHead(status, {
        'content-type': upstreamRes.headers.get('content-type') ?? 'application/octet-stream',
        'content-length': String(body.length),
      });
      res.end(body);
    })().catch((err: unknown) => {
      res.writeHead(502);
      res.end(String(err));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  proxy.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  };
  return proxy;
}

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

/**
 * The proxy as a compromised API runs it in front of the stack of `config`: it has the fleet CA
 * token's PIN, so a server certificate for 127.0.0.1 the devices trust.
 */
export async function startCompromisedApi(config: Config): Promise<Proxy> {
  const ca = await FleetCa.load(config.identity.fleetCaCert, fleetCaToken(config));
  try {
    return await startProxy(config.api.url, { ...ca.issueServer('compromised API', ['127.0.0.1']), caPem: ca.certPem });
  } finally {
    ca.close();
  }
}
