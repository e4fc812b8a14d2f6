import { createServer } from 'node:http';

/**
 * The webhook receiver of bench/events.ts, in a process of its own: it answers 204 to every
 * POST and keeps, per request, the milliseconds from the CloudEvent's `time` (when the change
 * was recorded) to its arrival. GET /stats hands them over and starts afresh.
 */
let latencies: number[] = [];
const server = createServer((req, res) => {
  if (req.method === 'GET') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(latencies));
    latencies = [];
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const now = Date.now();
    try {
      const time = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { time?: string }).time;
      if (time) latencies.push(now - Date.parse(time));
    } catch {
      // Not an event: nothing to time.
    }
    res.statusCode = 204;
    res.end();
  });
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.send?.(typeof address === 'object' && address ? address.port : 0);
});
