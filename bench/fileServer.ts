/**
 * A plain file server for benchmarks, run as its own process so the measured process holds
 * only the client side. Prints its URL, serves files of one folder by name. Given a JSON file
 * of TLS material (`{ certPem, keyPem, caPem }`), it serves HTTPS as the device API does:
 * TLS 1.3, a client certificate from that CA required.
 *
 *   node fileServer.js <folder> [<tls.json>]
 */
import { createReadStream, readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { basename, join } from 'node:path';

const dir = process.argv[2]!;
const tlsFile = process.argv[3];
const serve = (req: IncomingMessage, res: ServerResponse) => {
  const file = join(dir, basename(req.url ?? '/'));
  stat(file).then(
    (s) => {
      res.writeHead(200, { 'content-length': s.size });
      createReadStream(file, { highWaterMark: 1 << 20 }).pipe(res);
    },
    () => res.writeHead(404).end(),
  );
};
const tls = tlsFile
  ? (JSON.parse(readFileSync(tlsFile, 'utf8')) as { certPem: string; keyPem: string; caPem: string })
  : undefined;
const server = tls
  ? createTlsServer(
      {
        cert: tls.certPem,
        key: tls.keyPem,
        ca: tls.caPem,
        minVersion: 'TLSv1.3',
        requestCert: true,
        rejectUnauthorized: true,
      },
      serve,
    )
  : createServer(serve);
server.listen(0, '127.0.0.1', () =>
  process.stdout.write(`${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}\n`),
);
