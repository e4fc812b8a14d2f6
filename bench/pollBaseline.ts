/**
 * The poll benchmark's baseline, run as a process of its own as the API is: a bare express
 * endpoint with the API's TLS (its key and certificate, TLS 1.3, client certificates asked
 * for) that parses the JSON body and answers `{ offer: null }` at once. Prints its URL.
 *
 *   node dist/bench/pollBaseline.js KEY.pem CERT.pem CA.pem
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';

import express, { json } from 'express';

const [key, cert, ca] = process.argv.slice(2).map((file) => readFileSync(file));
const app = express();
app.post('/v1/poll', json(), (_req, res) => {
  res.json({ offer: null });
});
const server = createServer(
  { key, cert, ca, minVersion: 'TLSv1.3', requestCert: true, rejectUnauthorized: false },
  app,
);
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () =>
  process.stdout.write(`https://127.0.0.1:${(server.address() as AddressInfo).port}\n`),
);
