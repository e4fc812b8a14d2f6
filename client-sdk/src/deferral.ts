import { DeferredError } from './errors';
import type { Delivery } from './imageFetch';
import { windowVerdict } from './installWindows';
import type { VerifiedTarget } from './metadata';
import { ByteBudget, checkNetworkPolicy, isMetered, type NetworkPolicy } from './networkPolicy';
import { askReadiness, checkReadinessHook, ReadinessBackoff, type ReadinessHook } from './readiness';

/** What the agent knows to decide "not now"; all of it the device's own, none from the API. */
export interface DeferralOptions {
  stateDir: string;
  now: () => Date;
  /** The target groups this device is in: which of a release's signed windows apply to it. */
  groups?: string[];
  readiness?: ReadinessHook;
  network?: NetworkPolicy;
}

/** What the download may be, decided with the network's state before it starts. */
export interface DownloadTerms {
  metered: boolean;
  /** False: only a delta may be downloaded (deltas only on a metered network). */
  fullImage: boolean;
}

/**
 * Whether a verified release is installed now (D-19), checked after every verification rule
 * passed and before a byte of the artifact is downloaded: the signed install windows by the
 * device's clock, then the metered-network rules, then the readiness hook. Each "not now" is a
 * DeferredError with its code and reason; the agent reports it as waiting and tries again.
 */
export class InstallDeferrals {
  private readonly backoff = new ReadinessBackoff();
  private readonly budget: ByteBudget;

  constructor(private readonly options: DeferralOptions) {
    if (options.readiness) checkReadinessHook(options.readiness);
    if (options.network) checkNetworkPolicy(options.network);
    this.budget = new ByteBudget(options.stateDir);
  }

  /** Throws DeferredError unless `target` may be installed now; `planned` says what the download would be. */
  async check(target: VerifiedTarget, planned: () => Promise<Delivery>): Promise<DownloadTerms> {
    this.checkWindow(target);
    const terms = await this.checkNetwork(target, planned);
    await this.checkReadiness();
    return terms;
  }

  /** Counts a finished download against today's metered budget. */
  async counted(delivery: Delivery, terms: DownloadTerms): Promise<void> {
    if (terms.metered && this.options.network?.dailyByteBudget !== undefined)
      await this.budget.add(delivery.bytes, this.options.now());
  }

  private checkWindow(target: VerifiedTarget): void {
    const now = this.options.now();
    const verdict = windowVerdict(target.rollout.windows, { now, groups: this.options.groups });
    if (verdict.open) return;
    throw new DeferredError('INSTALL_WINDOW_CLOSED', {
      reason: 'window',
      message: `outside the signed install windows of ${target.name} at ${now.toISOString()}`,
      retryInMs: verdict.opensInMs,
    });
  }

  private async checkNetwork(target: VerifiedTarget, planned: () => Promise<Delivery>): Promise<DownloadTerms> {
    const policy = this.options.network;
    if (!policy || !(await isMetered(policy))) return { metered: false, fullImage: true };
    const download = await planned();
    if (policy.deltasOnly && download.as !== 'delta' && download.bytes > 0)
      throw new DeferredError('NETWORK_METERED', {
        reason: 'metered',
        message: 'the network is metered and no signed delta applies to the running image',
      });
    const limit = policy.dailyByteBudget;
    const left = limit === undefined ? Infinity : limit - (await this.budget.usedOn(this.options.now()));
    // Written so that NaN refuses: only a download that provably fits goes ahead.
    if (!(download.bytes <= left))
      throw new DeferredError('BYTE_BUDGET_SPENT', {
        reason: 'metered',
        message: `${download.bytes} bytes do not fit today's metered budget (${Math.max(0, left)} of ${limit} left)`,
      });
    // A delta that fails falls back to the full image only where that is allowed and fits too.
    return { metered: true, fullImage: !policy.deltasOnly && target.length <= left };
  }

  private async checkReadiness(): Promise<void> {
    const hook = this.options.readiness;
    if (!hook) return;
    const nowMs = this.options.now().getTime();
    const wait = this.backoff.waitMs(nowMs);
    if (wait > 0)
      throw new DeferredError('DEVICE_NOT_READY', {
        reason: 'not-ready',
        message: 'the readiness hook said not now; asking again later',
        retryInMs: wait,
      });
    const answer = await askReadiness(hook);
    const retryInMs = this.backoff.record(answer.ready, this.options.now().getTime());
    if (!answer.ready)
      throw new DeferredError('DEVICE_NOT_READY', {
        reason: 'not-ready',
        message: `the readiness hook said not now (${answer.detail})`,
        retryInMs,
      });
  }
}
