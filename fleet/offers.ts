import { readReleasePolicy, readRolloutState, type PollOffer } from '@enigm-ota/client-sdk';
import type { TufRepository } from '../trust/tufRepository';
import { chooseOffer, decideEligibility, type FleetDeviceFacts, type EligibilityContext, type OfferCandidate } from './eligibility';
import type { Explanation } from '../common/adminApi';

export interface OfferOptions {
  /** Attestation evidence older than this no longer makes a device eligible for attestation-required releases. */
  attestationMaxAgeMs: number;
  /** Integrity flags a device's last report must show as passed (eligibility's integrity check). */
  requiredIntegrity: string[];
  /** The clock; tests pass a fixed one. */
  now: () => Date;
}

export const defaultOfferOptions: OfferOptions = {
  attestationMaxAgeMs: 60 * 60 * 1000,
  requiredIntegrity: [],
  now: () => new Date(),
};

/**
 * The API's view of the signed rollout repository, refreshed at most every `ttlMs`. It
 * indexes releases by channel; which of them a device is offered is decided by
 * fleet/eligibility.ts alone. It only hints: the device re-checks every rule it can against
 * the signed metadata.
 */
export class OfferIndex {
  private byChannel = new Map<string, OfferCandidate[]>();
  /** The same candidates by artifact address, for the artifact route's access decision. */
  private bySha = new Map<string, OfferCandidate[]>();
  private loadedAt = -Infinity;
  private loading: Promise<void> | undefined;
  /** Bumped by `invalidate`: a load that began before it must not count as fresh. */
  private generation = 0;
  private readonly options: OfferOptions;

  constructor(
    private readonly rollout: Pick<TufRepository, 'published'>,
    private readonly ttlMs: number,
    options: Partial<OfferOptions> = {},
  ) {
    this.options = { ...defaultOfferOptions, ...options };
  }

  async offerFor(device: FleetDeviceFacts): Promise<PollOffer | null> {
    await this.fresh();
    return toOffer(chooseOffer(device, this.byChannel.get(device.channel) ?? [], this.context()));
  }

  async explain(device: FleetDeviceFacts, version: string): Promise<Explanation> {
    await this.fresh();
    const context = this.context();
    const sameChannel = this.byChannel.get(device.channel) ?? [];
    const offer = toOffer(chooseOffer(device, sameChannel, context));
    const matches = sameChannel.filter((c) => c.version === version);
    if (matches.length === 0) {
      const elsewhere = [...this.byChannel.values()].flat().filter((c) => c.version === version).map((c) => c.channel);
      const reason = elsewhere.length > 0
        ? `no release ${version} on channel ${device.channel} (only on ${[...new Set(elsewhere)].join(', ')})`
        : `no release ${version} in the signed rollout repository`;
      return { deviceId: device.deviceId, version, targetName: null, eligible: false, checks: [{ check: 'release', ok: false, reason }], offer };
    }
    // One release per channel and version; should there be several entries, explain the one that counts for this device.
    const decided = matches.map((candidate) => ({ candidate, decision: decideEligibility(device, candidate, context) }));
    const chosen = decided.find((d) => d.decision.eligible) ?? decided.find((d) => d.candidate.hardwareIds.includes(device.hardwareId)) ?? decided[0]!;
    return {
      deviceId: device.deviceId,
      version,
      targetName: chosen.candidate.targetName,
      eligible: chosen.decision.eligible,
      checks: [{ check: 'release', ok: true, reason: `${chosen.candidate.targetName} in the signed rollout repository` }, ...chosen.decision.checks],
      offer,
    };
  }

  /**
   * Whether `device` may download the artifact with this content address: only artifacts of
   * releases in the signed rollout repository are handed out (NOT_FOUND otherwise), and a
   * protected release's only to a device eligible for it, by the same decision as an offer
   * (attestation-required: fresh, passing evidence). Refusals name the failed checks.
   */
  async artifactAccess(device: FleetDeviceFacts, sha256: string): Promise<{ allowed: true } | { allowed: false; code: 'NOT_FOUND' | 'ARTIFACT_REFUSED'; reason: string }> {
    await this.fresh();
    const releases = this.bySha.get(sha256) ?? [];
    if (releases.length === 0) return { allowed: false, code: 'NOT_FOUND', reason: `no release in the rollout has the artifact ${sha256}` };
    if (!releases.some((c) => c.rollout.protected === true)) return { allowed: true };
    const context = this.context();
    const decided = releases.map((c) => ({ c, d: decideEligibility(device, c, context) }));
    if (decided.some((x) => x.d.eligible)) return { allowed: true };
    const reasons = decided.map((x) => `${x.c.targetName}: ${x.d.checks.filter((k) => !k.ok).map((k) => `${k.check} (${k.reason})`).join('; ')}`);
    return { allowed: false, code: 'ARTIFACT_REFUSED', reason: `protected release, not for device ${device.deviceId}: ${reasons.join(' | ')}` };
  }

  /**
   * Drops the cached view: the rollout changed (a pause through any replica; FleetStore
   * notifies every replica). The next poll reloads, whatever `ttlMs` says.
   */
  invalidate(): void {
    this.generation += 1;
    this.loadedAt = -Infinity;
    this.loading = undefined;
  }

  private context(): EligibilityContext {
    return { now: this.options.now(), attestationMaxAgeMs: this.options.attestationMaxAgeMs, requiredIntegrity: this.options.requiredIntegrity };
  }

  private async fresh(): Promise<void> {
    if (Date.now() - this.loadedAt < this.ttlMs) return;
    // One reload at a time; concurrent polls share it.
    if (!this.loading) {
      const loading = this.reload().finally(() => {
        if (this.loading === loading) this.loading = undefined;
      });
      this.loading = loading;
    }
    await this.loading;
  }

  private async reload(): Promise<void> {
    const generation = this.generation;
    const targets = await this.rollout.published();
    // Read before an invalidation: possibly older than the change; a newer load replaces it.
    if (generation !== this.generation) return;
    const byChannel = new Map<string, OfferCandidate[]>();
    const bySha = new Map<string, OfferCandidate[]>();
    for (const t of Object.values(targets.signed.targets)) {
      let candidate: OfferCandidate;
      try {
        // The same field checks the device applies; an entry a device would reject is never offered.
        const policy = readReleasePolicy(t);
        candidate = {
          targetName: t.path,
          sha256: t.hashes['sha256'],
          version: policy.version,
          channel: policy.channel,
          hardwareIds: policy.hardwareIds,
          ...(policy.minSourceVersion !== undefined && { minSourceVersion: policy.minSourceVersion }),
          rollout: readRolloutState(t),
        };
      } catch {
        continue;
      }
      const list = byChannel.get(candidate.channel) ?? [];
      list.push(candidate);
      byChannel.set(candidate.channel, list);
      if (candidate.sha256) bySha.set(candidate.sha256, [...(bySha.get(candidate.sha256) ?? []), candidate]);
    }
    this.byChannel = byChannel;
    this.bySha = bySha;
    this.loadedAt = Date.now();
  }
}

function toOffer(c: OfferCandidate | null): PollOffer | null {
  return c ? { targetName: c.targetName, version: c.version } : null;
}
