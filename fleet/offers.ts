import { type PollOffer, readDeltaBinding, readReleaseFields, readRolloutState } from '@enigm-ota/client-sdk';
import type { TargetFile } from '@tufjs/models';

import type { Explanation } from '../common/adminApi';
import {
  chooseOffer,
  decideEligibility,
  type EligibilityContext,
  type FleetDeviceFacts,
  mayUpdateFrom,
  type OfferCandidate,
} from './eligibility';

export interface OfferOptions {
  /** Attestation evidence older than this no longer makes a device eligible for attestation-required releases. */
  attestationMaxAgeMs: number;
  /** Integrity flags a device's last report must show as passed (eligibility's integrity check). */
  requiredIntegrity: string[];
  /** The clock; tests pass a fixed one. */
  now: () => Date;
}

const defaultOfferOptions: OfferOptions = {
  attestationMaxAgeMs: 60 * 60 * 1000,
  requiredIntegrity: [],
  now: () => new Date(),
};

/**
 * Where the index reads the signed rollout targets a device is offered from: the whole
 * flat repository, or the device's own (channel, hardware) partition (trust/layout.ts).
 * `scope` names what was read; devices sharing it share one cached view.
 */
export interface RolloutSource {
  offeredTo(channel: string, hardwareId: string): Promise<{ scope: string; targets: Record<string, TargetFile> }>;
}

const MAX_CACHED_PAIRS = 10_000;
/** Running versions come from devices' polls: the per-version lists of a view are bounded. */
const MAX_CACHED_VERSIONS = 1_000;

/** One scope's candidates, indexed by channel and by artifact address. */
interface View {
  byChannel: Map<string, OfferCandidate[]>;
  bySha: Map<string, OfferCandidate[]>;
  /** A delta update's address to the address of the image it applies to. */
  deltaBases: Map<string, string>;
  /** A channel's candidates that may update a device from a running version (`mayUpdateFrom`), by channel and version. */
  byVersion: Map<string, OfferCandidate[]>;
  loadedAt: number;
}

/**
 * The API's view of the signed rollout repository, each scope refreshed at most every
 * `ttlMs`. Which release a device is offered is decided by fleet/eligibility.ts alone. It
 * only hints: the device re-checks every rule it can against the signed metadata.
 */
export class OfferIndex {
  private views = new Map<string, View>();
  /** Which scope a (channel, hardware) pair read last, so a fresh view needs no source call. */
  private scopes = new Map<string, string>();
  private loading = new Map<string, Promise<View>>();
  /** Bumped by `invalidate`: a load that began before it must not count as fresh. */
  private generation = 0;
  private readonly options: OfferOptions;

  constructor(
    private readonly rollout: RolloutSource,
    private readonly ttlMs: number,
    options: Partial<OfferOptions> = {},
  ) {
    this.options = { ...defaultOfferOptions, ...options };
  }

  async offerFor(device: FleetDeviceFacts): Promise<PollOffer | null> {
    const view = await this.viewOf(device);
    return toOffer(chooseOffer(device, updatesFrom(view, device), this.context()));
  }

  async explain(device: FleetDeviceFacts, version: string): Promise<Explanation> {
    const view = await this.viewOf(device);
    const context = this.context();
    const sameChannel = view.byChannel.get(device.channel) ?? [];
    const offer = toOffer(chooseOffer(device, sameChannel, context));
    const matches = sameChannel.filter((c) => c.version === version);
    if (matches.length === 0) {
      const elsewhere = [...view.byChannel.values()]
        .flat()
        .filter((c) => c.version === version)
        .map((c) => c.channel);
      const reason =
        elsewhere.length > 0
          ? `no release ${version} on channel ${device.channel} (only on ${[...new Set(elsewhere)].join(', ')})`
          : `no release ${version} in the signed rollout repository (for channel ${device.channel}, hardware ${device.hardwareId})`;
      return {
        deviceId: device.deviceId,
        version,
        targetName: null,
        eligible: false,
        checks: [{ check: 'release', ok: false, reason }],
        offer,
      };
    }
    // One release per channel and version; should there be several entries, explain the one that
    // counts for this device.
    const decided = matches.map((candidate) => ({
      candidate,
      decision: decideEligibility(device, candidate, context),
    }));
    const chosen =
      decided.find((d) => d.decision.eligible) ??
      decided.find((d) => d.candidate.hardwareIds.includes(device.hardwareId)) ??
      decided[0]!;
    return {
      deviceId: device.deviceId,
      version,
      targetName: chosen.candidate.targetName,
      eligible: chosen.decision.eligible,
      checks: [
        { check: 'release', ok: true, reason: `${chosen.candidate.targetName} in the signed rollout repository` },
        ...chosen.decision.checks,
      ],
      offer,
    };
  }

  /**
   * Whether `device` may download the artifact with this content address: only artifacts of
   * releases in the signed rollout metadata the device reads are handed out (NOT_FOUND
   * otherwise), and a protected release's only to a device eligible for it, by the same
   * decision as an offer (attestation-required: fresh, passing evidence). A delta update
   * counts as its rebuilt release and, because the delta and that release give back its base
   * image, as its base too when the base is listed protected (S-28). Refusals name the
   * failed checks.
   */
  async artifactAccess(
    device: FleetDeviceFacts,
    sha256: string,
  ): Promise<{ allowed: true } | { allowed: false; code: 'NOT_FOUND' | 'ARTIFACT_REFUSED'; reason: string }> {
    const view = await this.viewOf(device);
    const releases = view.bySha.get(sha256) ?? [];
    if (releases.length === 0)
      return { allowed: false, code: 'NOT_FOUND', reason: `no release in the rollout has the artifact ${sha256}` };
    const context = this.context();
    const own = protectedAccess(device, releases, context);
    if (own !== undefined)
      return {
        allowed: false,
        code: 'ARTIFACT_REFUSED',
        reason: `protected release, not for device ${device.deviceId}: ${own}`,
      };
    const base = view.deltaBases.get(sha256);
    // A base no longer listed was open when the delta was built (activities/deltaBases.ts).
    const fromBase = base === undefined ? undefined : protectedAccess(device, view.bySha.get(base) ?? [], context);
    if (fromBase !== undefined)
      return {
        allowed: false,
        code: 'ARTIFACT_REFUSED',
        reason: `delta from a protected release, not for device ${device.deviceId}: ${fromBase}`,
      };
    return { allowed: true };
  }

  /**
   * Drops every cached view: the rollout changed (a pause through any replica; FleetStore
   * notifies every replica). The next poll reloads, whatever `ttlMs` says.
   */
  invalidate(): void {
    this.generation += 1;
    this.views.clear();
    this.loading.clear();
  }

  private context(): EligibilityContext {
    return {
      now: this.options.now(),
      attestationMaxAgeMs: this.options.attestationMaxAgeMs,
      requiredIntegrity: this.options.requiredIntegrity,
    };
  }

  private async viewOf(device: Pick<FleetDeviceFacts, 'channel' | 'hardwareId'>): Promise<View> {
    const pair = `${device.channel}\n${device.hardwareId}`;
    const known = this.scopes.get(pair);
    const cached = known === undefined ? undefined : this.views.get(known);
    if (cached && Date.now() - cached.loadedAt < this.ttlMs) return cached;
    // One reload at a time per scope once known (the flat set serves every pair), else per pair.
    const key = known ?? pair;
    let loading = this.loading.get(key);
    if (!loading) {
      loading = this.reload(pair, device.channel, device.hardwareId).finally(() => {
        if (this.loading.get(key) === loading) this.loading.delete(key);
      });
      this.loading.set(key, loading);
    }
    return loading;
  }

  private async reload(pair: string, channel: string, hardwareId: string): Promise<View> {
    const generation = this.generation;
    const { scope, targets } = await this.rollout.offeredTo(channel, hardwareId);
    const view: View = {
      byChannel: new Map(),
      bySha: new Map(),
      deltaBases: new Map(),
      byVersion: new Map(),
      loadedAt: Date.now(),
    };
    const byName = new Map<string, OfferCandidate>();
    const deltas: Array<{ sha256: string; rebuilds: string; base: string }> = [];
    for (const t of Object.values(targets)) {
      let candidate: OfferCandidate;
      try {
        // A delta update is handed to whoever may have the release it rebuilds (below), never offered itself.
        const delta = readDeltaBinding(t);
        if (delta) {
          if (t.hashes['sha256'])
            deltas.push({ sha256: t.hashes['sha256'], rebuilds: delta.target.name, base: delta.base.sha256 });
          continue;
        }
        // The same field checks the device applies; an entry a device would reject is never offered.
        const policy = readReleaseFields(t);
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
      push(view.byChannel, candidate.channel, candidate);
      byName.set(candidate.targetName, candidate);
      if (candidate.sha256) push(view.bySha, candidate.sha256, candidate);
    }
    for (const d of deltas) {
      const rebuilds = byName.get(d.rebuilds);
      if (!rebuilds) continue;
      push(view.bySha, d.sha256, rebuilds);
      view.deltaBases.set(d.sha256, d.base);
    }
    // Read before an invalidation: possibly older than the change; used for this answer, not kept.
    if (generation === this.generation) {
      // Pairs come from devices' polls: bounded, so made-up hardware ids cannot grow memory.
      if (this.scopes.size >= MAX_CACHED_PAIRS) this.scopes.clear();
      if (this.views.size >= MAX_CACHED_PAIRS) this.views.clear();
      this.views.set(scope, view);
      this.scopes.set(pair, scope);
    }
    return view;
  }
}

/**
 * Whether `device` may have an image these releases carry: undefined when none of them is
 * protected or it is eligible for one (an unlisted image included), else the failed checks.
 */
function protectedAccess(
  device: FleetDeviceFacts,
  releases: readonly OfferCandidate[],
  context: EligibilityContext,
): string | undefined {
  if (!releases.some((c) => c.rollout.protected === true)) return undefined;
  const decided = releases.map((c) => ({ c, d: decideEligibility(device, c, context) }));
  if (decided.some((x) => x.d.eligible)) return undefined;
  return decided
    .map(
      (x) =>
        `${x.c.targetName}: ${x.d.checks
          .filter((k) => !k.ok)
          .map((k) => `${k.check} (${k.reason})`)
          .join('; ')}`,
    )
    .join(' | ');
}

/**
 * The candidates of the device's channel that `chooseOffer` would not skip at once for the
 * version it runs: the same decision over fewer entries, the version comparisons made once per
 * view and version instead of once per poll.
 */
function updatesFrom(view: View, device: Pick<FleetDeviceFacts, 'channel' | 'currentVersion'>): OfferCandidate[] {
  const key = `${device.channel}\n${device.currentVersion}`;
  let list = view.byVersion.get(key);
  if (!list) {
    list = (view.byChannel.get(device.channel) ?? []).filter((c) => mayUpdateFrom(c, device.currentVersion));
    if (view.byVersion.size >= MAX_CACHED_VERSIONS) view.byVersion.clear();
    view.byVersion.set(key, list);
  }
  return list;
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function toOffer(c: OfferCandidate | null): PollOffer | null {
  return c ? { targetName: c.targetName, version: c.version } : null;
}
