import { join } from 'node:path';

import { readCappedIfPresent } from './cappedFile';
import { writeFileDurably } from './durable';
import { OtaError } from './errors';

/**
 * What the device may download on a metered network (a cellular link paid by the byte).
 * `metered` is asked before every install that would download; on an unmetered network
 * neither rule applies and nothing is counted.
 */
export interface NetworkPolicy {
  /** Whether the current network is metered: fixed, or asked each time (a modem's state). */
  metered: boolean | (() => Promise<boolean>);
  /** On a metered network, install only when a signed delta applies (never the full image). */
  deltasOnly?: boolean;
  /**
   * On a metered network, at most this many artifact bytes per day (UTC, by the device's
   * clock), counted durably in `<stateDir>/network-budget.json` so a restart does not reset it.
   * An install whose download does not fit what is left today waits for the next day.
   */
  dailyByteBudget?: number;
}

export function checkNetworkPolicy(policy: NetworkPolicy): NetworkPolicy {
  const ok =
    (typeof policy.metered === 'boolean' || typeof policy.metered === 'function') &&
    (policy.deltasOnly === undefined || typeof policy.deltasOnly === 'boolean') &&
    (policy.dailyByteBudget === undefined ||
      (Number.isSafeInteger(policy.dailyByteBudget) && policy.dailyByteBudget >= 0));
  if (!ok)
    throw new OtaError(
      'CONFIG_INVALID',
      'network: metered is true, false or a function; deltasOnly a boolean; dailyByteBudget a whole number of bytes',
    );
  return policy;
}

/** Whether the network is metered now; a probe that fails counts as metered (the cautious answer). */
export async function isMetered(policy: NetworkPolicy): Promise<boolean> {
  if (typeof policy.metered === 'boolean') return policy.metered;
  try {
    return (await policy.metered()) !== false;
  } catch {
    return true;
  }
}

/** What the agent writes is about 50 bytes; anything much larger is not its record. */
const MAX_BUDGET_FILE_BYTES = 4096;

interface BudgetFile {
  day: string;
  bytes: number;
}

/** The bytes a device downloaded on metered networks today, kept across restarts. */
export class ByteBudget {
  private readonly file: string;

  constructor(stateDir: string) {
    this.file = join(stateDir, 'network-budget.json');
  }

  /**
   * Bytes used on `now`'s day (UTC). A file that cannot be read counts today as spent (fail
   * closed) and is replaced by one saying so, so the next day starts afresh.
   */
  async usedOn(now: Date): Promise<number> {
    // A clock that cannot be read names no day: nothing is left to spend (NaN refuses).
    if (!Number.isFinite(now.getTime())) return Number.MAX_SAFE_INTEGER;
    const kept = await this.read();
    if (kept === 'unreadable') {
      await writeFileDurably(this.file, JSON.stringify({ day: dayOf(now), bytes: Number.MAX_SAFE_INTEGER }));
      return Number.MAX_SAFE_INTEGER;
    }
    return kept && kept.day === dayOf(now) ? kept.bytes : 0;
  }

  /** Adds `bytes` to `now`'s day, durably, before the caller moves on. */
  async add(bytes: number, now: Date): Promise<void> {
    if (!(bytes > 0) || !Number.isFinite(now.getTime())) return;
    const used = Math.min(Number.MAX_SAFE_INTEGER, (await this.usedOn(now)) + bytes);
    await writeFileDurably(this.file, JSON.stringify({ day: dayOf(now), bytes: used } satisfies BudgetFile));
  }

  private async read(): Promise<BudgetFile | undefined | 'unreadable'> {
    let text: string;
    try {
      const bytes = await readCappedIfPresent(this.file, MAX_BUDGET_FILE_BYTES);
      if (bytes === undefined) return undefined;
      text = bytes.toString('utf8');
    } catch {
      return 'unreadable';
    }
    try {
      const parsed = JSON.parse(text) as Partial<BudgetFile>;
      if (typeof parsed.day === 'string' && Number.isSafeInteger(parsed.bytes) && (parsed.bytes as number) >= 0)
        return { day: parsed.day, bytes: parsed.bytes as number };
    } catch {
      // Below: a file that does not parse is as good as none we can trust.
    }
    return 'unreadable';
  }
}

function dayOf(now: Date): string {
  return now.toISOString().slice(0, 10);
}
