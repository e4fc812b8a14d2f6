import type { RequestHandler, Response } from 'express';
import type { Logger } from 'pino';

import type { AuditEntry } from '../common/adminApi';
import { ServerError } from '../common/errors';
import type { AuditLog } from '../infra/auditLog';
import { type RefusalLimiter, type RefusalSummary, sourceOf } from './refusalLimiter';

/** The attempt a request is, while its credential is unproven. */
interface Attempt {
  source: string;
  action: string;
  settled: boolean;
}
const ATTEMPT = 'refusalAttempt';

/** How often the refusals that got no entry of their own are written as one entry per action. */
export const SUMMARY_EVERY_MS = 10_000;

/**
 * S-30: unauthenticated attempts (sign-in, enrollment, an admin change with an unknown token)
 * pass here before their credential is looked at. A source past its allowance is answered
 * 429 `RATE_LIMITED` with `Retry-After`, and nothing else happens; a refusal gets its own
 * audit entry while the replica's budget of entries lasts, and every refusal beyond it (and
 * every 429) is counted into one summary entry per action every `SUMMARY_EVERY_MS`.
 */
export class RefusalGate {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly limiter: RefusalLimiter,
    private readonly audit: AuditLog,
    private readonly log: Logger,
  ) {}

  /** Middleware: the request is an attempt at `action` from its source, or a 429. */
  admit(action: string): RequestHandler {
    return (req, res, next) => {
      const refused = this.refuseOrTrack(res, { source: sourceOf(req.socket.remoteAddress), action });
      next(refused);
    };
  }

  /** The same, for a guard that decides per request whether the request is an attempt. */
  refuseOrTrack(res: Response, { source, action }: { source: string; action: string }): ServerError | undefined {
    const admission = this.limiter.admit(source, action);
    if (!admission.admitted) {
      res.setHeader('Retry-After', String(admission.retryAfterS));
      return new ServerError(
        'RATE_LIMITED',
        `too many refused attempts from ${source}: try again in ${admission.retryAfterS} s`,
      );
    }
    res.locals[ATTEMPT] = { source, action, settled: false } satisfies Attempt;
    return undefined;
  }

  /** The credential proved itself: the source's allowance comes back. */
  accept(res: Response): void {
    const attempt = res.locals[ATTEMPT] as Attempt | undefined;
    if (!attempt || attempt.settled) return;
    attempt.settled = true;
    this.limiter.accepted(attempt.source);
  }

  /** Whether this refused attempt gets an audit entry of its own (else it is in the next summary). */
  mayRecord(res: Response): boolean {
    const attempt = res.locals[ATTEMPT] as Attempt | undefined;
    if (!attempt) return true;
    return this.limiter.mayRecord(attempt.source, attempt.action);
  }

  /** Records a refused attempt's entry, or counts it into the summary. */
  async refused(res: Response, entry: AuditEntry): Promise<void> {
    if (this.mayRecord(res)) await this.audit.record(entry);
  }

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), SUMMARY_EVERY_MS).unref();
  }

  /** Stops the timer and writes what is counted so far. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  private async flush(): Promise<void> {
    for (const s of this.limiter.drain()) {
      try {
        await this.audit.record(summaryEntry(s));
      } catch (err) {
        this.log.error({ err, action: s.action, count: s.count }, 'a summary of refused attempts could not be written');
      }
    }
  }
}

/** One entry for many refusals: how many, when, and from where. */
function summaryEntry(s: RefusalSummary): AuditEntry {
  const sources = s.sources.map((x) => `${x.source} ${x.count}`).join(', ');
  const others = s.others > 0 ? `, other sources ${s.others}` : '';
  return {
    actor: 'anonymous',
    action: s.action,
    // The busiest source, so `ota audit` lists where a flood came from at a glance.
    subject: s.sources[0]?.source ?? '-',
    outcome: 'refused',
    detail: `RATE_LIMITED: ${s.count} refused attempts from ${s.since.toISOString()} to ${s.until.toISOString()} not recorded one by one; by source: ${sources}${others}`,
  };
}
