import { isIPv4 } from 'node:net';

/**
 * How many unauthenticated attempts with a credential that proves nothing (an unknown
 * operator token, an unusable enrollment token) one source may make, and how many of their
 * refusals get an audit entry of their own (S-30).
 */
export interface RefusalLimits {
  /** Attempts one source may make in a row before it is answered 429. */
  burst: number;
  /** How fast a source's allowance comes back. */
  perMinute: number;
  /** Refusals recorded one entry each, over all sources; the rest are counted into a summary. */
  rowsPerMinute: number;
  /** Sources kept at most (memory stays bounded whatever the number of addresses). */
  maxSources: number;
}

export type Admission = { admitted: true } | { admitted: false; retryAfterS: number };

/** The refusals of one action that got no entry of their own, since the last summary. */
export interface RefusalSummary {
  action: string;
  count: number;
  since: Date;
  until: Date;
  /** The sources with the most attempts, most first. */
  sources: Array<{ source: string; count: number }>;
  /** Attempts from sources not named in `sources`. */
  others: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

interface Tally {
  count: number;
  since: number;
  until: number;
  bySource: Map<string, number>;
}

/** Sources named in one summary, and sources counted per action between two summaries. */
const SUMMARY_SOURCES = 5;
const TALLY_SOURCES = 1000;

/**
 * Token buckets, one per source, plus one for the audit entries of all sources. Pure: the
 * clock comes in, nothing is written here (api/refusalGate.ts writes the entries).
 *
 * An attempt takes from its source's allowance before its credential is looked at, so
 * concurrent attempts cannot all slip in before the first refusal counts; one whose
 * credential proves itself gives it back, so only refusals use it up and a source that
 * signs in or enrolls many devices is never slowed.
 */
export class RefusalLimiter {
  private readonly sources = new Map<string, Bucket>();
  private readonly rows: Bucket;
  private readonly tallies = new Map<string, Tally>();

  constructor(
    private readonly limits: RefusalLimits,
    private readonly now: () => number = Date.now,
  ) {
    this.rows = { tokens: limits.rowsPerMinute, at: now() };
  }

  /** Takes one attempt from the source's allowance, or counts it into the summary and says when to come back. */
  admit(source: string, action: string): Admission {
    const now = this.now();
    const bucket = this.sources.get(source) ?? { tokens: this.limits.burst, at: now };
    refill(bucket, { now, capacity: this.limits.burst, perMinute: this.limits.perMinute });
    // Most recently used last: the first in the map is the one evicted when it is full.
    this.sources.delete(source);
    if (!(bucket.tokens >= 1)) {
      this.sources.set(source, bucket);
      this.tally(source, action, now);
      return { admitted: false, retryAfterS: retryAfterS(bucket, this.limits.perMinute) };
    }
    bucket.tokens -= 1;
    this.sources.set(source, bucket);
    this.evict();
    return { admitted: true };
  }

  /** The attempt's credential proved itself: its allowance comes back. */
  accepted(source: string): void {
    const bucket = this.sources.get(source);
    if (!bucket) return;
    bucket.tokens += 1;
    refill(bucket, { now: this.now(), capacity: this.limits.burst, perMinute: this.limits.perMinute });
    // A full bucket says nothing a missing one would not.
    if (bucket.tokens >= this.limits.burst) this.sources.delete(source);
  }

  /** Whether a refusal may have an audit entry of its own; if not, it is counted into the summary. */
  mayRecord(source: string, action: string): boolean {
    const now = this.now();
    refill(this.rows, { now, capacity: this.limits.rowsPerMinute, perMinute: this.limits.rowsPerMinute });
    if (this.rows.tokens >= 1) {
      this.rows.tokens -= 1;
      return true;
    }
    this.tally(source, action, now);
    return false;
  }

  /** What was counted since the last call, one summary per action; the counts start again. */
  drain(): RefusalSummary[] {
    const out = [...this.tallies].map(([action, t]) => {
      const named = [...t.bySource]
        .sort((a, b) => b[1] - a[1])
        .slice(0, SUMMARY_SOURCES)
        .map(([source, count]) => ({ source, count }));
      return {
        action,
        count: t.count,
        since: new Date(t.since),
        until: new Date(t.until),
        sources: named,
        others: t.count - named.reduce((sum, x) => sum + x.count, 0),
      };
    });
    this.tallies.clear();
    return out;
  }

  /** Sources held now (for the bound's tests). */
  get size(): number {
    return this.sources.size;
  }

  private evict(): void {
    for (const source of this.sources.keys()) {
      if (this.sources.size <= this.limits.maxSources) return;
      this.sources.delete(source);
    }
  }

  private tally(source: string, action: string, now: number): void {
    const t = this.tallies.get(action) ?? { count: 0, since: now, until: now, bySource: new Map<string, number>() };
    t.count += 1;
    t.until = now;
    this.tallies.set(action, t);
    const seen = t.bySource.get(source);
    if (seen !== undefined) {
      t.bySource.set(source, seen + 1);
      return;
    }
    // Full: sources seen once make room, so a busy source that came late is still named.
    if (t.bySource.size >= TALLY_SOURCES) for (const [s, n] of t.bySource) if (n === 1) t.bySource.delete(s);
    if (t.bySource.size < TALLY_SOURCES) t.bySource.set(source, 1);
  }
}

/**
 * Adds what came back since the bucket was last looked at. A clock that went back (or is
 * broken: NaN) adds nothing, and the bucket keeps the latest time it saw.
 */
function refill(b: Bucket, { now, capacity, perMinute }: { now: number; capacity: number; perMinute: number }): void {
  const elapsed = now - b.at;
  if (!(elapsed > 0)) return;
  b.tokens = Math.min(capacity, b.tokens + (elapsed * perMinute) / 60_000);
  b.at = now;
}

function retryAfterS(b: Bucket, perMinute: number): number {
  const s = Math.ceil(((1 - b.tokens) * 60) / perMinute);
  return Number.isFinite(s) && s >= 1 ? s : 60;
}

/**
 * Who an attempt comes from: the TCP peer's address, never a header (the API terminates TLS
 * itself, so no proxy in front can vouch for a forwarded address). An IPv4 address in IPv6
 * form is the IPv4 address; IPv6 counts per /64, the block one subscriber usually holds.
 */
export function sourceOf(address: string | undefined): string {
  if (!address) return 'unknown';
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (v4) return v4;
  if (isIPv4(address) || !address.includes(':')) return address;
  return `${expandIpv6(address).slice(0, 4).join(':')}::/64`;
}

function expandIpv6(address: string): string[] {
  const [head = '', tail] = address.split('%', 1)[0]!.split('::', 2);
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? [] : Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0');
  return [...left, ...zeros, ...right].map((g) => (g.replace(/^0+(?=.)/, '') || '0').toLowerCase());
}
