import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DeviceApiClient, type PollOffer } from './api-client';
import { downloadVerified } from './download';
import { InstallError, OtaError, PolicyError, VerificationError } from './errors';
import { readState, writeState, type DeviceState, type Installer } from './installer';
import { defaultLimits, type DeviceLimits } from './limits';
import type { VerifiedTarget } from './metadata';
import { verifyInstallable, type DeviceFacts } from './policy';
import { TrustedRepository } from './repository';

const TARGET_NAME = /^[A-Za-z0-9._-]{1,128}(\/[A-Za-z0-9._-]{1,128}){0,7}$/;

export interface DeviceConfig {
  apiUrl: string;
  deviceId: string;
  hardwareId: string;
  channel: string;
  /** The device's own folder: trusted metadata, state, downloads. */
  stateDir: string;
  /** Provisioned trusted roots (factory step); only used when the folder has none yet. */
  trustedRoots: { release: Uint8Array | string; rollout: Uint8Array | string };
  installer: Installer;
  initialState?: DeviceState;
  limits?: Partial<DeviceLimits>;
  now?: () => Date;
}

export type UpdateResult =
  | { status: 'up-to-date'; version: string }
  | { status: 'installed'; version: string; target: string }
  | { status: 'refused'; version: string; target: string; code: string; message: string };

/**
 * A device's update agent. The API's offer only says which target to look at; the
 * decision comes from the two verified repositories and the device's own state.
 */
export class DeviceAgent {
  private readonly api: DeviceApiClient;
  private readonly limits: DeviceLimits;
  private readonly release: TrustedRepository;
  private readonly rollout: TrustedRepository;

  constructor(private readonly config: DeviceConfig) {
    this.limits = { ...defaultLimits, ...config.limits };
    this.api = new DeviceApiClient(config.apiUrl, this.limits.maxApiResponseBytes, this.limits.fetchTimeoutMs);
    const releaseDir = join(config.stateDir, 'metadata', 'release');
    const rolloutDir = join(config.stateDir, 'metadata', 'rollout');
    TrustedRepository.provision(releaseDir, config.trustedRoots.release);
    TrustedRepository.provision(rolloutDir, config.trustedRoots.rollout);
    this.release = new TrustedRepository('release', releaseDir, this.api.metadataUrl('release'), this.limits);
    this.rollout = new TrustedRepository('rollout', rolloutDir, this.api.metadataUrl('rollout'), this.limits);
  }

  async state(): Promise<DeviceState> {
    return readState(this.config.stateDir, this.config.initialState ?? { currentVersion: '0.0.0', rollbackIndex: 0 });
  }

  /** One poll cycle: ask, verify, install, report. Refusals are reported, never thrown. */
  async checkForUpdate(): Promise<UpdateResult> {
    const state = await this.state();
    const offer = await this.api.poll(this.pollRequest(state));
    if (!offer) return { status: 'up-to-date', version: state.currentVersion };
    return this.installOffer(offer);
  }

  private queue: Promise<unknown> = Promise.resolve();

  /** Acts on an offer (from the API, or forced by a test or an attacker) and reports the outcome. */
  installOffer(offer: PollOffer): Promise<UpdateResult> {
    // One install at a time per device: they share the device's state and partial downloads.
    const next = this.queue.then(() => this.installOfferNow(offer));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async installOfferNow(offer: PollOffer): Promise<UpdateResult> {
    const state = await this.state();
    try {
      const target = await this.verify(offer.targetName, state);
      await this.downloadAndInstall(target);
      if (!(await this.confirmWithinWindow(target))) {
        // D-9
        // The new image did not come up healthy and was reverted: nothing of it is kept.
        throw new InstallError('HEALTH_CHECK_FAILED', `${target.policy.version} failed its health check and was reverted`);
      }
      // The rollback index rises only once the new version runs and is confirmed healthy.
      await writeState(this.config.stateDir, {
        currentVersion: target.policy.version,
        rollbackIndex: Math.max(state.rollbackIndex, target.policy.rollbackIndex),
      });
      await this.reportQuietly({ outcome: 'installed', health: 'healthy', version: target.policy.version, targetName: target.name });
      return { status: 'installed', version: target.policy.version, target: target.name };
    } catch (err) {
      const failure = err instanceof OtaError ? err : new InstallError('INSTALL_FAILED', String(err), { cause: err });
      await this.reportQuietly({
        outcome: failure instanceof PolicyError ? 'refused' : 'failed',
        ...(failure.code === 'HEALTH_CHECK_FAILED' ? { health: 'reverted' as const } : {}),
        version: state.currentVersion,
        targetName: offer.targetName,
        errorCode: failure.code,
        message: failure.message.slice(0, 500),
      });
      return { status: 'refused', version: state.currentVersion, target: offer.targetName, code: failure.code, message: failure.message };
    }
  }

  /** D-1..D-6: both repositories fresh and verified, then the policy checklist. */
  async verify(targetName: string, state: DeviceState): Promise<VerifiedTarget> {
    // D-12: a target name is a plain relative path; nothing from the network names a file here.
    if (!TARGET_NAME.test(targetName) || targetName.split('/').some((part) => part === '..' || part === '.')) {
      throw new VerificationError('TARGET_NAME_INVALID', `refusing target name ${JSON.stringify(targetName.slice(0, 100))}`);
    }
    await this.release.refresh();
    await this.rollout.refresh();
    const released = await this.release.target(targetName);
    if (!released) throw new PolicyError('TARGET_NOT_FOUND', `${targetName} is not signed by the release keys`);
    const offered = await this.rollout.target(targetName);
    if (!offered) throw new PolicyError('NOT_IN_ROLLOUT', `${targetName} is not in the signed rollout`);
    return verifyInstallable(released, offered, this.facts(state), this.config.now?.() ?? new Date());
  }

  /** Health must be confirmed within the window; silence counts as a failed boot. */
  private async confirmWithinWindow(target: VerifiedTarget): Promise<boolean> {
    const installer = this.config.installer;
    let timer: NodeJS.Timeout | undefined;
    const closed = new Promise<'closed'>((resolve) => {
      timer = setTimeout(() => resolve('closed'), this.limits.healthWindowMs);
    });
    try {
      const answer = await Promise.race([installer.confirm(target), closed]);
      if (answer === 'closed') {
        await installer.revert(target);
        return false;
      }
      return answer;
    } finally {
      clearTimeout(timer);
    }
  }

  private async downloadAndInstall(target: VerifiedTarget): Promise<void> {
    if (target.length > this.limits.maxArtifactBytes) {
      throw new PolicyError('TARGET_LENGTH_MISMATCH', `artifact of ${target.length} bytes exceeds the device limit`);
    }
    const downloads = join(this.config.stateDir, 'downloads');
    await mkdir(downloads, { recursive: true });
    // A stable name per artifact, so an interrupted download resumes (installs are serialized).
    const file = join(downloads, `${target.sha256}.partial`);
    await downloadVerified(
      { url: this.api.artifactUrl(target.sha256), length: target.length, sha256: target.sha256 },
      file,
      { timeoutMs: this.limits.fetchTimeoutMs },
    );
    try {
      await this.config.installer.install(file, target);
    } finally {
      await rm(file, { force: true });
    }
  }

  private facts(state: DeviceState): DeviceFacts {
    const { deviceId, hardwareId, channel } = this.config;
    return { deviceId, hardwareId, channel, currentVersion: state.currentVersion, rollbackIndex: state.rollbackIndex };
  }

  private pollRequest(state: DeviceState) {
    const { deviceId, hardwareId, channel } = this.config;
    return { deviceId, hardwareId, channel, currentVersion: state.currentVersion };
  }

  /** A lost report must not undo a verified install; the next poll reports the version again. */
  private async reportQuietly(report: Omit<Parameters<DeviceApiClient['report']>[0], 'deviceId'>): Promise<void> {
    try {
      await this.api.report({ deviceId: this.config.deviceId, ...report });
    } catch {
      // Reporting is best effort by design: the install decision never depends on it.
    }
  }
}
