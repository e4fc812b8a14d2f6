import type { VerifiedTarget } from './metadata';

/**
 * What an installer gets from the agent at start-up recovery: the agent's own check-in with
 * the API (its identity, the network, the API answering), the last health check of a new
 * image that just booted.
 */
export interface RecoverContext {
  checkIn(): Promise<void>;
}

/** The outcome of start-up recovery. */
export interface Recovery {
  /** A trial boot was under way and did not confirm: it counts as a failed boot. */
  trialDropped: boolean;
  /**
   * The installer asked for a reboot (a trial failed its health checks and the bootloader
   * is to fall back): the agent stops acting and waits for the reboot to end it.
   */
  rebooting?: boolean;
  /**
   * What the installer finishes only once the agent has stored what recovery found: the
   * agent calls it after its state write (or after finding nothing to write), never while a
   * reboot is under way. It removes a record recovery needs until then, such as the note that
   * a trial ran: removed earlier, a power cut before the agent's write would make a failed
   * trial look like an interrupted install.
   */
  afterRecorded?: () => Promise<void>;
}

/**
 * How the agent drives an A/B system. Called only with a file that passed every check.
 * `install` writes the new image where it does not run yet; `confirm` boots it and
 * answers whether it came up healthy (on false the installer has already reverted), or
 * `'rebooting'` when booting it means rebooting the device: the agent then stops acting,
 * settles nothing, and the next agent start (after the reboot) finishes the install in
 * `recover()`. `revert` goes back to the previous image when the health window closes before
 * `confirm` answered. The agent decides what to store and report from `running()`, never
 * from its own expectations, so an installer must only make a version the one that runs
 * after it booted and confirmed health (D-9, D-13).
 */
export interface Installer {
  install(verifiedFile: string, target: VerifiedTarget): Promise<void>;
  confirm(target: VerifiedTarget): Promise<boolean | 'rebooting'>;
  revert(target: VerifiedTarget): Promise<void>;
  /**
   * The confirmed version that boots now, never an unconfirmed trial; `undefined` while
   * the factory image runs (the installer never wrote one), when the agent's stored
   * version is all there is. `slot`: the slot it boots from, where the backend has slots
   * (it goes into the device's signed receipts).
   */
  running(): Promise<{ version: string | undefined; slot?: string }>;
  /**
   * Start-up recovery, once per agent start before anything else: drops a trial that never
   * confirmed, as a bootloader falls back from a slot that did not mark itself good, and,
   * on a rebooting backend, confirms (health checks, then marks the slot good) or fails a
   * trial that just booted. `trialDropped` says a trial boot was under way and did not
   * confirm, which counts as a failed boot.
   */
  recover(context: RecoverContext): Promise<Recovery>;
  /**
   * The image file that runs now and the sha256 it was verified with when it was written
   * (delta updates apply to it; imageFetch.ts). Optional: without it, the device always
   * downloads full images. Undefined while the factory image runs.
   */
  runningImage?(): Promise<{ file: string; sha256: string } | undefined>;
}
