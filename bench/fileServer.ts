/**
 * A plain file server for benchmarks, run as its own process so the measured process holds
 * only the client side. Prints its URL, serves files of one folder by name.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, join } from 'node:path';

const dir = process.argv[2]!;
const server = createServer((req, res) => {
  const file = join(dir, basename(req.url ?? '/'));
  stat(file).then(
    (s) => {
      res.writeHead(200, { 'content-length': s.size });
      createReadStream(file, { highWaterMark: 1 << 20 }).pipe(res);
    },
    () => res.writeHead(404).end(),
  );
});
server.listen(0, '127.0.0.1', () =>
  process.stdout.write(`http://127.0.0.1:${(server.address() as AddressInfo).port}\n`),
);
