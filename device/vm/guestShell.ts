import { type Server, type Socket } from 'node:net';

import { listenUnix } from './unixSocket.js';

/** At most this much of a command's output is kept (base64 in one line). */
const MAX_LINE_BYTES = 4 * 1024 * 1024;

export interface GuestResult {
  /** The command's exit status in the guest (bash -c). */
  code: number;
  /** Standard output and error together, trailing newlines removed. */
  output: string;
}

interface Pending {
  resolve: (result: GuestResult) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * The host end of the reference VM's test command channel: a Unix socket that QEMU connects
 * to at start and carries to the guest's virtio-serial port org.enigm-ota.shell, where
 * enigm-ota-vm-shell runs each command as root (device/image/rootfs). Not a network service:
 * only the process that started QEMU holds it.
 */
export class GuestShell {
  readonly #server: Server;
  readonly #pending = new Map<number, Pending>();
  #socket: Socket | undefined;
  #buffer = '';
  #nextId = 1;
  #queued: string[] = [];

  private constructor(server: Server) {
    this.#server = server;
    server.on('connection', (socket) => this.#attach(socket));
  }

  static async listen(path: string): Promise<GuestShell> {
    return new GuestShell(await listenUnix(path));
  }

  /** Runs `command` with bash in the guest and answers with its status and output. */
  run(command: string, options: { timeoutMs: number }): Promise<GuestResult> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`guest: no answer to ${JSON.stringify(command)} within ${options.timeoutMs} ms`));
      }, options.timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#write(`${id} ${Buffer.from(command).toString('base64')}\n`);
    });
  }

  /** Starts `command` in the guest without waiting for an answer (reboot, poweroff). */
  send(command: string): void {
    this.#write(`${this.#nextId++} ${Buffer.from(command).toString('base64')}\n`);
  }

  /** QEMU went away: what was asked of that guest is never answered. */
  disconnected(error: Error): void {
    this.#socket?.destroy();
    this.#socket = undefined;
    this.#buffer = '';
    this.#queued = [];
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.#pending.clear();
  }

  async close(): Promise<void> {
    this.disconnected(new Error('guest shell closed'));
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #write(line: string): void {
    if (this.#socket) this.#socket.write(line);
    else this.#queued.push(line);
  }

  #attach(socket: Socket): void {
    this.#socket?.destroy();
    this.#socket = socket;
    this.#buffer = '';
    socket.on('data', (chunk: Buffer) => this.#receive(chunk.toString('latin1')));
    socket.on('error', () => socket.destroy());
    for (const line of this.#queued.splice(0)) socket.write(line);
  }

  #receive(text: string): void {
    this.#buffer += text;
    if (this.#buffer.length > MAX_LINE_BYTES) {
      this.#buffer = '';
      return;
    }
    let newline: number;
    while ((newline = this.#buffer.indexOf('\n')) >= 0) {
      const line = this.#buffer.slice(0, newline);
      this.#buffer = this.#buffer.slice(newline + 1);
      const match = /^ENIGM-OTA-RESULT (\d+) (\d+) ([A-Za-z0-9+/=]*)$/.exec(line);
      const pending = match ? this.#pending.get(Number(match[1])) : undefined;
      if (!match || !pending) continue;
      this.#pending.delete(Number(match[1]));
      clearTimeout(pending.timer);
      pending.resolve({ code: Number(match[2]), output: Buffer.from(match[3] ?? '', 'base64').toString('utf8') });
    }
  }
}
