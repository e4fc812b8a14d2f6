import type { LogLeaves } from '../infra/logLeaves';
import type { LogAppender } from '../infra/transparencyLog';

export interface ShipperOptions {
  /** Leaves appended at once: the log batches them into one checkpoint. */
  batch: number;
  /** How long a claimed leaf is this replica's before another may append it. */
  leaseMs: number;
  /** The pause between looks when there was nothing to ship, and after a failure. */
  idleMs: number;
  warn(message: string, fields: Record<string, unknown>): void;
}

/**
 * Appends the fleet store's new leaves (release events, settled audit entries) to the
 * transparency log, in the order they were written, and keeps each one's index. A leaf is
 * appended at least once: a replica that died between the append and recording its index
 * leaves it to be appended again, and `ota log verify` accepts a row logged twice.
 */
export class LogShipper {
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private current: Promise<void> | undefined;

  constructor(
    private readonly leaves: LogLeaves,
    private readonly log: LogAppender,
    private readonly o: ShipperOptions,
  ) {}

  start(): void {
    this.running = true;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.current;
  }

  /** Ships until nothing is left; how many leaves it appended. */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const claimed = await this.leaves.claim(this.o.batch, this.o.leaseMs);
      if (claimed.length === 0) return total;
      const appended = await Promise.all(claimed.map((l) => this.log.append(Buffer.from(l.leaf, 'utf8'))));
      await this.leaves.shipped(claimed.map((l, i) => ({ id: l.id, index: appended[i]!.index })));
      total += claimed.length;
    }
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.current = this.drain()
        .catch((err: unknown) => this.o.warn('leaves not appended to the transparency log; trying again', { err }))
        .then(() => this.schedule(this.o.idleMs));
    }, ms);
  }
}
