import {
  bucketInPercent,
  compareSemver,
  readReleasePolicy,
  readRolloutState,
  rolloutBucket,
  type PollOffer,
  type PollRequest,
  type RolloutCustom,
} from '@enigm-ota/client-sdk';
import type { TufRepository } from '../infra/tufRepository';

interface OfferEntry {
  targetName: string;
  custom: RolloutCustom;
}

/**
 * The API's view of the signed rollout repository, refreshed at most every `ttlMs`.
 * It only hints: the device re-checks every rule against the signed metadata.
 */
export class OfferIndex {
  private entries: OfferEntry[] = [];
  private loadedAt = -Infinity;
  private loading: Promise<void> | undefined;

  constructor(
    private readonly rollout: TufRepository,
    private readonly ttlMs: number,
  ) {}

  async offerFor(req: PollRequest): Promise<PollOffer | null> {
    await this.fresh();
    let best: OfferEntry | undefined;
    for (const e of this.entries) {
      const c = e.custom;
      if (c.channel !== req.channel || !c.hardwareIds.includes(req.hardwareId)) continue;
      if (c.rollout.paused || c.rollout.withdrawn) continue;
      const order = compareSemver(c.version, req.currentVersion);
      // Older releases only as a signed rollback for the device's (withdrawn) version.
      if (order === 0 || (order < 0 && !c.rollout.downgradeFrom?.includes(req.currentVersion))) continue;
      if (!bucketInPercent(rolloutBucket(c.rollout.salt, req.deviceId), c.rollout.percent)) continue;
      // A rollback offer for this device's version wins over anything else offered.
      const rollback = order < 0;
      const bestIsRollback = best !== undefined && compareSemver(best.custom.version, req.currentVersion) < 0;
      if (!best || (rollback && !bestIsRollback) || (rollback === bestIsRollback && compareSemver(c.version, best.custom.version) > 0)) best = e;
    }
    return best ? { targetName: best.targetName, version: best.custom.version } : null;
  }

  private async fresh(): Promise<void> {
    if (Date.now() - this.loadedAt < this.ttlMs) return;
    // One reload at a time; concurrent polls share it.
    this.loading ??= this.reload().finally(() => (this.loading = undefined));
    await this.loading;
  }

  private async reload(): Promise<void> {
    const targets = await this.rollout.published();
    const entries: OfferEntry[] = [];
    for (const t of Object.values(targets.signed.targets)) {
      try {
        // The same field checks the device applies; an entry a device would reject is never offered.
        entries.push({ targetName: t.path, custom: { ...readReleasePolicy(t), rollout: readRolloutState(t) } });
      } catch {
        continue;
      }
    }
    this.entries = entries;
    this.loadedAt = Date.now();
  }
}
