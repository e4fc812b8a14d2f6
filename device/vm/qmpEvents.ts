import { type Server, type Socket } from 'node:net';

import { listenUnix } from './unixSocket.js';

/** QMP messages are small; a longer line is not QEMU's and is dropped. */
const MAX_LINE_BYTES = 64 * 1024;
/** How long a QEMU that exited may take to deliver its last events (its socket closes on exit). */
const CLOSE_GRACE_MS = 5_000;

/** Why the guest stopped, as QEMU's SHUTDOWN event says: `guest-reset` is a reboot. */
export type ShutdownReason = string;

/**
 * The host end of one QEMU process's QMP monitor, events only: QEMU connects to this Unix
 * socket at start; the runner learns from the SHUTDOWN event whether the guest rebooted or
 * powered off (QEMU exits on both: `-action reboot=shutdown`).
 */
export class QmpEvents {
  readonly #server: Server;
  #socket: Socket | undefined;
  #reason: ShutdownReason | undefined;
  #closed: Promise<void>;
  #markClosed: () => void = () => undefined;

  private constructor(server: Server) {
    this.#server = server;
    this.#closed = new Promise((resolve) => (this.#markClosed = resolve));
    server.on('connection', (socket) => this.#attach(socket));
  }

  static async listen(path: string): Promise<QmpEvents> {
    return new QmpEvents(await listenUnix(path));
  }

  /**
   * The reason of the guest's last SHUTDOWN event, once QEMU's connection has closed (or the
   * grace period ended): undefined when QEMU was killed before it said anything.
   */
  async shutdownReason(): Promise<ShutdownReason | undefined> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#closed, new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_GRACE_MS)))]);
    clearTimeout(timer);
    return this.#reason;
  }

  async close(): Promise<void> {
    this.#socket?.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #attach(socket: Socket): void {
    if (this.#socket) {
      socket.destroy();
      return;
    }
    this.#socket = socket;
    let buffer = '';
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      if (buffer.length > MAX_LINE_BYTES) buffer = '';
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        this.#receive(buffer.slice(0, newline));
        buffer = buffer.slice(newline + 1);
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.#markClosed());
  }

  #receive(line: string): void {
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      return;
    }
    if (typeof message !== 'object' || message === null) return;
    const record = message as { QMP?: unknown; event?: unknown; data?: { reason?: unknown } };
    // The greeting: events flow only after capabilities negotiation.
    if (record.QMP !== undefined) this.#socket?.write('{"execute":"qmp_capabilities"}\n');
    if (record.event === 'SHUTDOWN' && typeof record.data?.reason === 'string') this.#reason = record.data.reason;
  }
}
