import { once } from 'node:events';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a device made to object storage, as the proxy relayed it. */
export interface StorageRequest {
  path: string;
  /** The Range header the device sent, if any. */
  range: string | undefined;
  /** The storage's answer (0: no answer, storage unreachable). */
  status: number;
  /** Body bytes relayed to the device. */
  bytes: number;
}

export interface StorageProxy {
  /** Where devices are sent for artifact bytes (the API's OTA_MINIO_PUBLIC_URL). */
  url: string;
  requests: StorageRequest[];
  /** Bytes per second of each answer while set: long enough downloads to stop storage under. */
  throttle: number | undefined;
  close(): Promise<void>;
}

/**
 * Object storage as devices reach it: plain HTTP relayed to MinIO, the Host header kept so
 * presigned URLs made for this address verify, and each request recorded: what a device
 * asked (Range) and what reached it, counted here rather than taken from the device's word.
 * When storage dies mid-answer the device's connection is cut too, as it would be.
 */
export async function startStorageProxy(upstream: { host: string; port: number }): Promise<StorageProxy> {
  const proxy: StorageProxy = { url: '', requests: [], throttle: undefined, close: () => Promise.resolve() };
  const server = createServer((req, res) => {
    const seen: StorageRequest = { path: req.url ?? '', range: req.headers.range, status: 0, bytes: 0 };
    proxy.requests.push(seen);
    const up = request(
      { host: upstream.host, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        seen.status = answer.statusCode ?? 0;
        res.writeHead(seen.status, answer.headers);
        // Read from storage no faster than the device takes it (and the throttle allows), so
        // what storage has sent is what the device got: a cut leaves the rest unsent.
        answer.on('data', (chunk: Buffer) => {
          seen.bytes += chunk.length;
          const drained = res.write(chunk);
          const delayMs = proxy.throttle ? (chunk.length / proxy.throttle) * 1000 : 0;
          if (drained && delayMs === 0) return;
          answer.pause();
          void Promise.all([drained ? undefined : once(res, 'drain'), new Promise((r) => setTimeout(r, delayMs))]).then(
            () => answer.resume(),
            () => undefined,
          );
        });
        answer.on('end', () => res.end());
        // Storage gone mid-answer: the socket closes whether or not the answer is paused.
        answer.socket.on('close', () => {
          if (!answer.complete) res.destroy();
        });
        answer.on('error', () => res.destroy());
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  };
  return proxy;
}
