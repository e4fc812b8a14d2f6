import { createWriteStream, type WriteStream } from 'node:fs';
import { type Readable } from 'node:stream';

/** Terminal control sequences (colours, cursor moves) that OVMF and systemd write to the console. */
const CONTROL = /\x1b\[[0-9;=?]*[A-Za-z]|\r/g;

interface Waiter {
  pattern: RegExp;
  from: number;
  resolve: (match: ConsoleMatch) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export interface ConsoleMatch {
  /** The matching line, control sequences removed. */
  line: string;
  /** Its index among every line since the console was created (all boots of the VM). */
  index: number;
}

/**
 * The VM's serial console (ttyS0: OVMF, GRUB, the kernel, systemd): appended to a file as it
 * comes, kept as lines across restarts of QEMU, and waited on by pattern.
 */
export class SerialConsole {
  readonly #lines: string[] = [];
  readonly #waiters = new Set<Waiter>();
  readonly #file: WriteStream;
  #partial = '';

  constructor(readonly path: string) {
    this.#file = createWriteStream(path, { flags: 'a' });
  }

  /** Reads one QEMU process's console output until it ends. */
  attach(stream: Readable): void {
    stream.on('data', (chunk: Buffer) => {
      this.#file.write(chunk);
      const parts = (this.#partial + chunk.toString('latin1')).split('\n');
      this.#partial = parts.pop() ?? '';
      for (const part of parts) this.#push(part.replace(CONTROL, ''));
    });
  }

  /** Lines seen so far; `from` is an index from an earlier `lineCount`. */
  lines(from = 0): string[] {
    return this.#lines.slice(from);
  }

  get lineCount(): number {
    return this.#lines.length;
  }

  /** The first line at index `from` or later that matches, as soon as it is printed. */
  waitFor(pattern: RegExp, options: { timeoutMs: number; from?: number }): Promise<ConsoleMatch> {
    const from = options.from ?? 0;
    const index = this.#lines.findIndex((line, i) => i >= from && pattern.test(line));
    if (index >= 0) return Promise.resolve({ line: this.#lines[index] ?? '', index });
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        pattern,
        from,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.delete(waiter);
          reject(new Error(`console: no line matching ${String(pattern)} within ${options.timeoutMs} ms`));
        }, options.timeoutMs),
      };
      this.#waiters.add(waiter);
    });
  }

  /** Fails every pending wait: the VM stopped, nothing more will be printed until a restart. */
  failWaiters(error: Error): void {
    for (const waiter of this.#waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    this.#waiters.clear();
  }

  close(): Promise<void> {
    this.failWaiters(new Error('console closed'));
    return new Promise((resolve) => this.#file.end(resolve));
  }

  #push(line: string): void {
    const index = this.#lines.push(line) - 1;
    for (const waiter of this.#waiters) {
      if (index >= waiter.from && waiter.pattern.test(line)) {
        clearTimeout(waiter.timer);
        this.#waiters.delete(waiter);
        waiter.resolve({ line, index });
      }
    }
  }
}
