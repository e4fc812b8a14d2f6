import type { LogLeaves } from '../infra/logLeaves';
import type { LogAppender } from '../infra/transparencyLog';

/** The longest pause between looks while the log keeps failing. */
const MAX_BACKOFF_MS = 30_000;

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
 * transparency log in batches taken in the order they were written (within a batch the log
 * orders them as they arrive), and keeps each one's index. A leaf is
 * appended at least once: a replica that died between the append and recording its index
 * leaves it to be appended again, and `ota log verify` accepts a row logged twice.
 */
export class LogShipper {
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private current: Promise<void> | undefined;
  /** Failed looks in a row: each doubles the pause before the next, up to MAX_BACKOFF_MS. */
  private failures = 0;

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

  /** Ships until nothing is left; how many leaves it appended. Throws when an append failed. */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const claimed = await this.leaves.claim(this.o.batch, this.o.leaseMs);
      if (claimed.length === 0) return total;
      const results = await Promise.allSettled(claimed.map((l) => this.log.append(Buffer.from(l.leaf, 'utf8'))));
      const done = claimed.flatMap((l, i) => {
        const r = results[i]!;
        return r.status === 'fulfilled' ? [{ id: l.id, index: r.value.index }] : [];
      });
      await this.leaves.shipped(done);
      total += done.length;
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) {
        // The rest go back at once: the next look (after the backoff) takes them again.
        await this.leaves.release(claimed.filter((_, i) => results[i]!.status === 'rejected').map((l) => l.id));
        throw failed.reason;
      }
    }
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.current = this.drain()
        .then(() => {
          this.failures = 0;
        })
        .catch((err: unknown) => {
          this.failures++;
          this.o.warn('leaves not appended to the transparency log; trying again', { err, failures: this.failures });
        })
        .then(() => this.schedule(Math.min(MAX_BACKOFF_MS, this.o.idleMs * 2 ** this.failures)));
    }, ms);
  }
}
