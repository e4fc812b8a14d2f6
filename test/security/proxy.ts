import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a hostile delivery path can do: rewrite any response on its way to the device. */
export interface Tamper {
  /** Called for every response; return replacement bytes (or undefined to pass through). */
  (path: string, body: Buffer, request: { method: string; body: Buffer }): Buffer | undefined | Promise<Buffer | undefined>;
}

export interface Proxy {
  url: string;
  tamper: Tamper | undefined;
  close(): Promise<void>;
}

/**
 * A man in the middle between the device and the real API, on loopback: the device's
 * only view of the world, as an attacker who owns the API or the network would control it.
 */
export async function startProxy(upstream: string): Promise<Proxy> {
  const proxy: Proxy = { url: '', tamper: undefined, close: async () => undefined };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const requestBody = await readAll(req);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'content-length') headers[k] = v;
      const upstreamRes = await fetch(`${upstream}${req.url}`, {
        method: req.method,
        headers,
        body: req.method === 'GET' || req.method === 'HEAD' ? undefined : requestBody,
      });
      let body: Buffer = Buffer.from(await upstreamRes.arrayBuffer());
      const replaced = await proxy.tamper?.(req.url ?? '', body, { method: req.method ?? 'GET', body: requestBody });
      const status = replaced !== undefined && upstreamRes.status === 206 ? 200 : upstreamRes.status;
      if (replaced !== undefined) body = replaced;
      res.writeHead(status, { 'content-type': upstreamRes.headers.get('content-type') ?? 'application/octet-stream', 'content-length': String(body.length) });
      res.end(body);
    })().catch((err: unknown) => {
      res.writeHead(502);
      res.end(String(err));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
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
