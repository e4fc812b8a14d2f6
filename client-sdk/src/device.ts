import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { uptime } from 'node:os';
import { join } from 'node:path';

import { DeviceApiClient, type InstallReport, type PollOffer } from './apiClient';
import { type AttestationKey, type AttestationMeasurements, createEvidence } from './attestation';
import { type DownloadTerms, InstallDeferrals } from './deferral';
import { DeferredError, InstallError, OtaError, PolicyError, type WaitReason } from './errors';
import { type DeviceIdentity, enroll, loadIdentity, needsRenewal, renew, saveIdentity } from './identity';
import { type Delivery, fetchImage, plannedDelivery } from './imageFetch';
import type { Installer } from './installer';
import { type DeviceFacts, verifyInstallable, verifyTargetName } from './installPolicy';
import { partitionOf } from './layout';
import { defaultLimits, type DeviceLimits } from './limits';
import type { RepositoryName, VerifiedTarget } from './metadata';
import type { NetworkPolicy } from './networkPolicy';
import type { ReadinessHook } from './readiness';
import { attestReceipt, type ReceiptContext, signReceipt } from './receipt';
import { TrustedRepository } from './repository';
import { cycleDelayMs, type RetryPolicy, retryPolicy } from './retry';
import { settleInstall } from './settle';
import { type DeviceState, gaveUpOn, readDeviceState, TRIALS_PER_TARGET, writeDeviceState } from './state';
import { type PinnedLog, pinnedPolicy } from './transparency/checkpoint';
import { logStateFile, LogWatch } from './transparency/logWatch';
import { type ArtifactGet, closeIdleConnections, createArtifactGet, createTransport, type Fetch } from './transport';

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
  /**
   * API requests (poll, report, attestation, enrollment, renewal) that get no answer, a 5xx
   * or a 429 are retried with full-jitter backoff, honouring a capped Retry-After; `run()`
   * spaces its cycles by the jittered poll interval. Defaults in `defaultRetry`, each bounded.
   */
  retry?: Partial<RetryPolicy>;
  now?: () => Date;
  /**
   * Mutual TLS with the API: the fleet CA provisioned at the factory, and a one-time
   * enrollment token for the first start. The key and certificate then live in
   * <stateDir>/identity and are renewed before they expire. Absent: plain HTTP (loopback tests).
   */
  fleetCaPem?: string;
  enrollmentToken?: string;
  /**
   * Remote attestation: the device's attestation key (certified by its manufacturer) and
   * what it measures. Evidence goes to the API before a poll, at most every `everyMs`; it
   * only makes the device eligible for attestation-required releases, never skips a check here.
   */
  attestation?: {
    key: AttestationKey;
    measure(): AttestationMeasurements | Promise<AttestationMeasurements>;
    everyMs?: number;
  };
  /**
   * The target groups this device is in, as the fleet labels it. Used only to choose which of
   * a release's signed install windows apply (a window naming groups applies to devices in
   * one of them; one without groups to every device). Absent: only windows without groups.
   */
  groups?: string[];
  /**
   * "Not now" from the device itself, asked after a release verified and before its download:
   * a program (no shell; `command[0]` and its arguments) whose exit code 0 means ready and
   * anything else, a signal or no exit within `timeoutMs` means not now. The agent then reports
   * waiting (reason `not-ready`) and asks again after 30 s, doubling up to 30 min.
   */
  readiness?: ReadinessHook;
  /**
   * The metered-network policy: on a metered network, `deltasOnly` waits unless a signed delta
   * applies, and `dailyByteBudget` caps the artifact bytes downloaded per UTC day (kept in
   * <stateDir>/network-budget.json across restarts). A device that waits reports reason `metered`.
   */
  network?: NetworkPolicy;
  /**
   * The transparency log, pinned at the factory: its verifier key (`<origin>+<hash>+<key>`, the
   * file the key ceremony wrote) and the witnesses of which `quorum` must cosign each
   * checkpoint. Then every timestamp the device trusts must be proved in the log, in one
   * history with every checkpoint it saw before (a split view is refused, LOG_INCONSISTENT).
   */
  transparencyLog?: PinnedLog;
  /** Test hook: called after each durable step of the agent, to cut power there by stopping the process. */
  step?: (name: AgentStep) => void;
  /**
   * Progress of the long parts of an install: the artifact's download (at its start, with the
   * target's length, then as bytes arrive, with the length of what is downloaded: the image,
   * or a delta of it; `doneBytes` counts a resumed download's kept part too), a delta's
   * rebuild of the image (after each segment) and the installer's write (at its start and its
   * end). For logs and displays: it decides nothing,
   * and what it throws is dropped.
   */
  progress?: (event: InstallProgress) => void;
}

export interface InstallProgress {
  phase: 'download' | 'apply' | 'install';
  target: string;
  doneBytes: number;
  totalBytes: number;
}

export type AgentStep =
  'recovered' | 'delta-applied' | 'artifact-verified' | 'intent-written' | 'state-written' | 'pending-cleared';

/** One cycle of `run()`: its result or its error, and the wait before the next one. */
export type CycleOutcome = ({ result: UpdateResult; error?: undefined } | { result?: undefined; error: unknown }) & {
  nextInMs: number;
};

export type UpdateResult =
  | { status: 'up-to-date'; version: string }
  | { status: 'waiting'; version: string; target: string; reason: WaitReason; code: string; message: string }
  | { status: 'installed'; version: string; target: string; delivery?: Delivery }
  | { status: 'refused'; version: string; target: string; code: string; message: string }
  /** The installer asked for a reboot (a trial boot, or a fallback after one): the agent has stopped acting. */
  | { status: 'rebooting'; version: string; target?: string };

/**
 * A device's update agent. The API's offer only says which target to look at; the
 * decision comes from the two verified repositories and the device's own state, and what
 * it stores and reports comes from what the installer says actually runs.
 */
export class DeviceAgent {
  private readonly api: DeviceApiClient;
  private readonly limits: DeviceLimits;
  private readonly retry: RetryPolicy;
  private readonly release: TrustedRepository;
  private readonly rollout: TrustedRepository;
  private readonly history: LogWatch | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly deferrals: InstallDeferrals;
  /** The wait last reported (target and code), so a waiting device reports each change once. */
  private waitReported = '';
  /** When the agent should look again while waiting (the readiness backoff), if sooner than a poll. */
  private retryWaitingInMs: number | undefined;
  private recovered = false;
  /** Start-up recovery dropped the trial of the pending install: its boot failed. */
  private trialDropped = false;
  /** The installer's clean-up for after the recovery's outcome is stored (Recovery.afterRecorded). */
  private afterRecorded: (() => Promise<void>) | undefined;
  /** The installer asked for a reboot: nothing more is settled, stored or reported by this agent. */
  private rebooting = false;
  /** The slot the installer last said it boots from (signed into receipts). */
  private slot: string | undefined;

  /** Replaced once the device has its certificate; every request goes through it. */
  private transport: Fetch = createTransport();
  /** Artifact bytes, over the same identity as `transport`. */
  private artifactGet: ArtifactGet = createArtifactGet();
  /** The identity in use, read from <stateDir>/identity once per agent start. */
  private held: DeviceIdentity | undefined;

  constructor(private readonly config: DeviceConfig) {
    this.limits = { ...defaultLimits, ...config.limits };
    this.retry = retryPolicy(config.retry);
    this.deferrals = new InstallDeferrals({
      stateDir: config.stateDir,
      now: () => config.now?.() ?? new Date(),
      groups: config.groups,
      readiness: config.readiness,
      network: config.network,
    });
    const viaTransport: Fetch = (url, init) => this.transport(url, init);
    this.api = new DeviceApiClient({
      baseUrl: config.apiUrl,
      limits: this.limits,
      transport: viaTransport,
      retry: { policy: this.retry },
    });
    const releaseDir = join(config.stateDir, 'metadata', 'release');
    const rolloutDir = join(config.stateDir, 'metadata', 'rollout');
    TrustedRepository.provision(releaseDir, config.trustedRoots.release);
    TrustedRepository.provision(rolloutDir, config.trustedRoots.rollout);
    // The device's own partition, should its roots announce partitions (client-sdk/src/layout.ts).
    const partition = partitionOf(config.channel, config.hardwareId);
    const repository = (name: RepositoryName, metadataDir: string) =>
      new TrustedRepository({
        name,
        metadataDir,
        metadataBaseUrl: this.api.metadataUrl(name),
        partition: { name: partition, baseUrl: this.api.partitionMetadataUrl(name, partition) },
        limits: this.limits,
        transport: viaTransport,
        now: config.now,
      });
    this.release = repository('release', releaseDir);
    this.rollout = repository('rollout', rolloutDir);
    const log = config.transparencyLog;
    this.history =
      log &&
      new LogWatch({
        policy: pinnedPolicy(log),
        stateFile: logStateFile(config.stateDir),
        proofs: (leaf, from) => this.api.logProof(leaf, from),
      });
  }

  /** The device's certificate and key (after enrollment), e.g. for a test's man in the middle. */
  async identity(): Promise<DeviceIdentity | undefined> {
    await this.serially(() => this.ensureIdentity());
    return loadIdentity(join(this.config.stateDir, 'identity'));
  }

  /**
   * First start: enroll with the one-time token. Later: renew once a third of the
   * certificate's lifetime is left (a failed renewal keeps the current, still valid one).
   */
  private async ensureIdentity(): Promise<void> {
    const caPem = this.config.fleetCaPem;
    if (!caPem) return;
    const dir = join(this.config.stateDir, 'identity');
    let id = this.held ?? (await loadIdentity(dir));
    if (!id) {
      if (!this.config.enrollmentToken)
        throw new OtaError('NOT_ENROLLED', `${this.config.deviceId} has no certificate and no enrollment token`);
      const { currentVersion } = await this.stored();
      const once = createTransport({ caPem });
      id = await enroll(
        { apiUrl: this.config.apiUrl, transport: once, retry: this.retry },
        { token: this.config.enrollmentToken, deviceId: this.config.deviceId, currentVersion },
        caPem,
      ).finally(() => closeIdleConnections(once));
      await saveIdentity(dir, id);
    } else if (needsRenewal(id.certPem, this.config.now?.() ?? new Date())) {
      try {
        const api = { apiUrl: this.config.apiUrl, transport: createTransport(id), retry: this.retry };
        const renewed = await renew(api, id, this.config.deviceId).finally(() => closeIdleConnections(api.transport));
        await saveIdentity(dir, renewed);
        id = renewed;
      } catch {
        // Still valid for now; the next cycle tries again.
      }
    }
    if (id !== this.held) {
      // The old identity's connections are not used again.
      closeIdleConnections(this.transport, this.artifactGet);
      this.transport = createTransport(id);
      this.artifactGet = createArtifactGet(id);
      this.held = id;
    }
  }

  /** The stored state (D-10: throws DEVICE_STATE_INVALID when unreadable); the next cycle settles it first. */
  async state(): Promise<DeviceState> {
    const { currentVersion, rollbackIndex } = await this.stored();
    return { currentVersion, rollbackIndex };
  }

  /** One poll cycle: settle, ask, verify, install, report. Refusals are reported, never thrown. */
  checkForUpdate(): Promise<UpdateResult> {
    return this.serially(async () => {
      await this.ensureIdentity();
      await this.attestIfDue();
      const state = await this.settle();
      if (this.rebooting) return { status: 'rebooting', version: state.currentVersion };
      const offer = await this.api.poll(this.pollRequest(state));
      if (!offer) return { status: 'up-to-date', version: state.currentVersion };
      return this.installOfferNow(offer, state);
    });
  }

  /**
   * The agent's own schedule until `signal` aborts: a cycle, then the poll interval spread by
   * its jitter, so a fleet started together drifts apart. After a cycle whose requests failed
   * for good (retryable errors only), the backoff goes on growing with each failed cycle in a
   * row, never before the API's Retry-After; any other error waits the poll interval. It ends
   * once the installer asked for a reboot: the reboot ends the process.
   */
  async run(signal: AbortSignal, onCycle?: (outcome: CycleOutcome) => void): Promise<void> {
    let failed = 0;
    while (!signal.aborted && !this.rebooting) {
      let outcome: CycleOutcome;
      try {
        const result = await this.checkForUpdate();
        failed = 0;
        outcome = { result, nextInMs: this.nextPollInMs(result) };
      } catch (error) {
        outcome = { error, nextInMs: cycleDelayMs({ policy: this.retry }, { error, failedBefore: failed++ }) };
      }
      onCycle?.(outcome);
      if (this.rebooting) return;
      this.rest();
      await sleepUnless(signal, outcome.nextInMs);
    }
  }

  /**
   * Between two cycles: the connections no request uses are closed and, where the runtime
   * exposes it (the agent's executable runs with --expose-gc), garbage is collected, so what
   * stays resident while the agent sleeps is what it holds, not what a cycle left behind.
   */
  rest(): void {
    closeIdleConnections(this.transport, this.artifactGet);
    // V8's last-resort collection (what a low-memory notification runs) also gives the emptied
    // heap pages back; a plain gc() frees objects but keeps the pages committed.
    (globalThis as { gc?: (options: object) => void }).gc?.({
      type: 'major',
      execution: 'sync',
      flavor: 'last-resort',
    });
  }

  /** Acts on an offer (from the API, or forced by a test or an attacker) and reports the outcome. */
  installOffer(offer: PollOffer): Promise<UpdateResult> {
    return this.serially(async () => {
      await this.ensureIdentity();
      const state = await this.settle();
      if (this.rebooting) return { status: 'rebooting', version: state.currentVersion };
      return this.installOfferNow(offer, state);
    });
  }

  /** One cycle at a time per device: they share its state, slots and partial downloads. */
  private serially<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async installOfferNow(offer: PollOffer, state: DeviceState): Promise<UpdateResult> {
    let target: VerifiedTarget;
    let delivery: Delivery;
    try {
      target = await this.verifyNow(offer.targetName, state);
      // After verification, so a downgrade or a forged offer is refused as such; before the download.
      if (gaveUpOn(state, target.name)) {
        throw new PolicyError(
          'TARGET_REVERTED',
          `${target.name} was reverted on this device ${TRIALS_PER_TARGET} times; a fixed release is a new target`,
        );
      }
      delivery = await this.downloadAndInstall(target, await this.deferUnlessNow(target));
    } catch (err) {
      if (err instanceof DeferredError) return this.waiting(err, offer.targetName, state);
      return this.refused(err, offer.targetName, state);
    }
    // D-14: the verified rollbackIndex is on disk before the trial boot, so the index can
    // rise after a power cut between the switch and the state write, and only then.
    const pending = {
      targetName: target.name,
      version: target.fields.version,
      rollbackIndex: target.fields.rollbackIndex,
      reportId: randomUUID(),
      delivery,
      sha256: target.sha256,
      timestampVersion: this.rollout.timestampVersion(),
    };
    await writeDeviceState(this.config.stateDir, { ...state, pending });
    this.trialDropped = false;
    this.step('intent-written');
    let healthFailed = false;
    let bootError = '';
    try {
      const answer = await this.confirmWithinWindow(target);
      if (answer === 'rebooting') {
        // The pending install is on disk: the agent that starts after the reboot settles it.
        this.rebooting = true;
        return { status: 'rebooting', version: state.currentVersion, target: target.name };
      }
      healthFailed = !answer;
    } catch (err) {
      // The trial gave no answer at all: go back; settle() below still goes by what runs.
      bootError = `: ${String(err)}`;
      await this.config.installer.revert(target);
    }
    // The same rule as after a power cut decides what is stored and reported (D-9).
    const now = await this.settle(healthFailed);
    if (now.currentVersion === target.fields.version)
      return { status: 'installed', version: now.currentVersion, target: target.name, delivery };
    const code = healthFailed ? 'HEALTH_CHECK_FAILED' : 'INSTALL_INTERRUPTED';
    const message = `${target.fields.version} did not become the running version${bootError}`;
    return { status: 'refused', version: now.currentVersion, target: target.name, code, message };
  }

  /**
   * Start-up recovery once per agent start, then state.json follows what actually runs and
   * a pending install is finished: stored, then reported; cleared once the report arrived,
   * so a cut or a lost report only means it is reported again (D-9, D-14). While a reboot
   * is under way nothing is settled: the agent after the reboot does it.
   */
  private async settle(healthFailed = false): Promise<DeviceState> {
    const installer = this.config.installer;
    if (!this.recovered) {
      const recovery = await installer.recover({ checkIn: () => this.checkIn() });
      this.trialDropped = recovery.trialDropped;
      this.rebooting ||= recovery.rebooting === true;
      this.afterRecorded = recovery.afterRecorded;
      this.recovered = true;
      this.step('recovered');
    }
    const stored = await this.stored();
    if (this.rebooting) return { currentVersion: stored.currentVersion, rollbackIndex: stored.rollbackIndex };
    const running = await installer.running();
    this.slot = running.slot;
    const s = settleInstall(stored, running.version, healthFailed || this.trialDropped);
    if (
      s.state.currentVersion !== stored.currentVersion ||
      s.state.rollbackIndex !== stored.rollbackIndex ||
      JSON.stringify(s.state.reverted ?? []) !== JSON.stringify(stored.reverted ?? []) ||
      s.pending?.trialFailed !== stored.pending?.trialFailed
    ) {
      await writeDeviceState(this.config.stateDir, s.pending ? { ...s.state, pending: s.pending } : s.state);
      this.step('state-written');
    }
    if (this.afterRecorded) {
      await this.afterRecorded();
      this.afterRecorded = undefined;
    }
    const acted = { sha256: stored.pending?.sha256, timestampVersion: stored.pending?.timestampVersion };
    if (s.report && (await this.reportQuietly(s.report, acted))) {
      await writeDeviceState(this.config.stateDir, s.state);
      this.trialDropped = false;
      this.step('pending-cleared');
    }
    return s.state;
  }

  /**
   * The agent's own health check after a new image booted: its identity works and the API
   * answers a poll (the offer in the answer is not acted on here).
   */
  private async checkIn(): Promise<void> {
    await this.ensureIdentity();
    await this.api.poll(this.pollRequest(await this.stored()));
  }

  private stored() {
    return readDeviceState(
      this.config.stateDir,
      this.config.initialState ?? { currentVersion: '0.0.0', rollbackIndex: 0 },
    );
  }

  private attestedAt = -Infinity;

  /** Fresh evidence for the API: a new nonce, the measurements, signed by the attestation key. */
  async attest(): Promise<void> {
    const a = this.config.attestation;
    if (!a) throw new OtaError('ATTESTATION_KEY_INVALID', 'this device has no attestation key');
    await this.ensureIdentity();
    const nonce = await this.api.attestationNonce();
    await this.api.attest(
      createEvidence(a.key, { deviceId: this.config.deviceId, nonce, measurements: await a.measure() }),
    );
    this.attestedAt = Date.now();
  }

  private async attestIfDue(): Promise<void> {
    const a = this.config.attestation;
    if (!a || Date.now() - this.attestedAt < (a.everyMs ?? 3_600_000)) return;
    try {
      await this.attest();
    } catch {
      // Refused evidence only costs eligibility for attestation-required releases; the poll goes on.
      this.attestedAt = Date.now();
    }
  }

  /** D-1..D-6 as a cycle would check them, for tools and tests (no install, no report). */
  async verify(targetName: string, state: DeviceState): Promise<VerifiedTarget> {
    await this.ensureIdentity();
    return this.verifyNow(targetName, state);
  }

  /** D-1..D-6: both repositories fresh and verified, then the policy checklist. */
  private async verifyNow(targetName: string, state: DeviceState): Promise<VerifiedTarget> {
    verifyTargetName(targetName);
    await this.release.refresh();
    await this.rollout.refresh();
    await this.history?.check([this.release.trustedTimestamp(), this.rollout.trustedTimestamp()]);
    const released = await this.release.target(targetName);
    if (!released) throw new PolicyError('TARGET_NOT_FOUND', `${targetName} is not signed by the release keys`);
    const offered = await this.rollout.target(targetName);
    if (!offered) throw new PolicyError('NOT_IN_ROLLOUT', `${targetName} is not in the signed rollout`);
    return verifyInstallable(
      { release: released, rollout: offered },
      this.facts(state),
      this.config.now?.() ?? new Date(),
    );
  }

  /** Health must be confirmed within the window; silence counts as a failed boot. */
  private async confirmWithinWindow(target: VerifiedTarget): Promise<boolean | 'rebooting'> {
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

  /** The verified image (from a delta when one applies, else whole) into the inactive slot. */
  private async downloadAndInstall(target: VerifiedTarget, terms: DownloadTerms): Promise<Delivery> {
    if (target.length > this.limits.maxArtifactBytes) {
      throw new PolicyError('TARGET_LENGTH_MISMATCH', `artifact of ${target.length} bytes exceeds the device limit`);
    }
    // Its start, before the first byte (a delta's progress counts the delta's bytes).
    this.tellProgress({ phase: 'download', target: target.name, doneBytes: 0, totalBytes: target.length });
    const { file, delivery } = await fetchImage(
      {
        release: this.release,
        rollout: this.rollout,
        installer: this.config.installer,
        stateDir: this.config.stateDir,
        artifactUrl: (sha256) => this.api.artifactUrl(sha256),
        download: {
          timeoutMs: this.limits.fetchTimeoutMs,
          get: (url, init) => this.artifactGet(url, init),
          onProgress: (doneBytes, totalBytes) =>
            this.tellProgress({ phase: 'download', target: target.name, doneBytes, totalBytes }),
        },
        step: (name) => this.step(name),
        fullImage: terms.fullImage,
        onApply: (doneBytes, totalBytes) =>
          this.tellProgress({ phase: 'apply', target: target.name, doneBytes, totalBytes }),
      },
      target,
    );
    await this.deferrals.counted(delivery, terms);
    this.step('artifact-verified');
    const installing = (doneBytes: number) =>
      this.tellProgress({ phase: 'install', target: target.name, doneBytes, totalBytes: target.length });
    try {
      installing(0);
      await this.config.installer.install(file, target);
      installing(target.length);
    } finally {
      await rm(file, { force: true });
    }
    return delivery;
  }

  /** The progress callback, which decides nothing: whatever it throws is dropped. */
  private tellProgress(event: InstallProgress): void {
    try {
      this.config.progress?.(event);
    } catch {
      // A display that fails must not fail the install.
    }
  }

  /** A release this device did not install (refused or failed before its trial): reported, and answered. */
  private async refused(err: unknown, targetName: string, state: DeviceState): Promise<UpdateResult> {
    const failure = err instanceof OtaError ? err : new InstallError('INSTALL_FAILED', String(err), { cause: err });
    await this.reportQuietly(
      {
        outcome: failure instanceof PolicyError ? 'refused' : 'failed',
        version: state.currentVersion,
        targetName,
        errorCode: failure.code,
        message: failure.message.slice(0, 500),
      },
      { timestampVersion: this.rollout.timestampVersion() },
    );
    const { code, message } = failure;
    return { status: 'refused', version: state.currentVersion, target: targetName, code, message };
  }

  /** D-19: throws DeferredError when the signed windows, the network or the readiness hook say not now. */
  private deferUnlessNow(target: VerifiedTarget): Promise<DownloadTerms> {
    const source = { release: this.release, rollout: this.rollout, installer: this.config.installer };
    return this.deferrals.check(target, () => plannedDelivery({ ...source, stateDir: this.config.stateDir }, target));
  }

  /** A release the device will install later: reported as waiting once per target and code, never as a failure. */
  private async waiting(wait: DeferredError, targetName: string, state: DeviceState): Promise<UpdateResult> {
    this.retryWaitingInMs = wait.reason === 'not-ready' ? wait.retryInMs : undefined;
    const key = `${targetName}\n${wait.code}`;
    if (key !== this.waitReported) {
      const sent = await this.reportQuietly(
        {
          outcome: 'waiting',
          waitReason: wait.reason,
          errorCode: wait.code,
          version: state.currentVersion,
          targetName,
          message: wait.message.slice(0, 500),
        },
        { timestampVersion: this.rollout.timestampVersion() },
      );
      if (sent) this.waitReported = key;
    }
    const { reason, code, message } = wait;
    return { status: 'waiting', version: state.currentVersion, target: targetName, reason, code, message };
  }

  /** The poll interval, or sooner while a readiness hook backs off: "not now" is retried, not failed. */
  /** The wait after a cycle that answered: the poll interval, or sooner to ask a not-ready device again. */
  nextPollInMs(result: UpdateResult): number {
    const poll = cycleDelayMs({ policy: this.retry }, { failedBefore: 0 });
    if (result.status !== 'waiting') this.waitReported = '';
    const soon = result.status === 'waiting' ? this.retryWaitingInMs : undefined;
    return soon === undefined ? poll : Math.min(poll, soon);
  }

  private facts(state: DeviceState): DeviceFacts {
    const { deviceId, hardwareId, channel } = this.config;
    return { deviceId, hardwareId, channel, currentVersion: state.currentVersion, rollbackIndex: state.rollbackIndex };
  }

  private pollRequest(state: DeviceState) {
    const { deviceId, hardwareId, channel } = this.config;
    return { deviceId, hardwareId, channel, currentVersion: state.currentVersion };
  }

  /**
   * Best effort: the install decision never depends on it; settle() repeats an undelivered one.
   * Signed with the device's identity key (a receipt, ADR 0079) once it has one.
   */
  private async reportQuietly(report: Omit<InstallReport, 'deviceId'>, acted: ReceiptContext): Promise<boolean> {
    try {
      const full = { deviceId: this.config.deviceId, reportId: randomUUID(), ...report };
      const key = this.held?.keyPem;
      const context = { ...acted, slot: this.slot, bootTime: bootTime(), at: this.config.now?.() };
      const signed = key && signReceipt(full, context, key);
      const receipt = signed && this.config.attestation ? attestReceipt(signed, this.config.attestation.key) : signed;
      await this.api.report(receipt ? { ...full, receipt } : full);
      return true;
    } catch {
      return false;
    }
  }

  private step(name: AgentStep): void {
    this.config.step?.(name);
  }
}

/** When this system booted, to the second: a receipt names the boot its claim is about. */
function bootTime(): string {
  return new Date(Math.floor((Date.now() - uptime() * 1000) / 1000) * 1000).toISOString();
}

function sleepUnless(signal: AbortSignal, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
