import { createServer, type Server } from 'node:net';

/** A server on the Unix socket `path` that QEMU connects to (a chardev in client mode). */
export async function listenUnix(path: string): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  return server;
}
