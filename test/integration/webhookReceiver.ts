import { createServer, type IncomingMessage } from 'node:http';

/**
 * A webhook receiver as its own process, for the tests: it keeps every request it gets and
 * answers as told. `node webhookReceiver.js PORT` listens on 127.0.0.1:PORT (0: any) and
 * prints the port. GET /_received: what it got; POST /_answer?with=200|500|hang: how it answers.
 */
interface Received {
  path: string;
  headers: Record<string, string>;
  body: string;
  receivedAt: number;
}

const received: Received[] = [];
let answer = '200';
const MAX_BODY = 64 * 1024;

async function bodyOf(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new Error('body too large');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://receiver');
  if (req.method === 'GET' && url.pathname === '/_received') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(received));
    return;
  }
  if (req.method === 'POST' && url.pathname === '/_answer') {
    answer = url.searchParams.get('with') ?? '200';
    res.end('ok');
    return;
  }
  bodyOf(req).then(
    (body) => {
      const headers = Object.fromEntries(
        Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]),
      );
      received.push({ path: url.pathname, headers, body, receivedAt: Date.now() });
      if (answer === 'hang') return; // never answers: the sender's timeout must end it
      res.statusCode = Number(answer);
      res.end();
    },
    () => {
      res.statusCode = 413;
      res.end();
    },
  );
});
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const address = server.address();
  console.log(typeof address === 'object' && address ? address.port : 0);
});
