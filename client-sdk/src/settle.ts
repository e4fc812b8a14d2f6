import type { InstallReport } from './apiClient';
import { type DeviceState, type PendingInstall, type StoredState, withReverted } from './state';

/** What the agent stores and reports so that it says what actually runs. */
export interface Settlement {
  /** The state once the outcome is reported. */
  state: DeviceState;
  /** Kept in state.json beside `state` until `report` was delivered. */
  pending?: PendingInstall;
  report?: Omit<InstallReport, 'deviceId'>;
}

/**
 * D-9, D-14. Decides from the stored state and the version that runs (after start-up
 * recovery), never from what the agent expected: the same rule finishes an install in
 * line and after a power cut at any step. The installer makes a version the running one
 * only after it booted and confirmed health, so a pending install found running is
 * confirmed and its rollbackIndex may be stored; anything else leaves the index alone.
 * The index never goes down, also when a local revert brought an older version back.
 */
export function settleInstall(stored: StoredState, running: string | undefined, trialFailed: boolean): Settlement {
  const p = stored.pending;
  const confirmed = p !== undefined && running === p.version;
  const state: DeviceState = {
    // A factory image the installer never wrote: the provisioned version is all there is.
    currentVersion: running ?? stored.currentVersion,
    rollbackIndex: confirmed ? Math.max(stored.rollbackIndex, p.rollbackIndex) : stored.rollbackIndex,
  };
  // A trial that failed is remembered once (the pending install keeps that it was, until its
  // report arrives), so the same target offered again is refused, not retried.
  const failed = p !== undefined && !confirmed && (trialFailed || p.trialFailed === true);
  const reverted = failed && p.trialFailed !== true ? withReverted(stored.reverted, p.targetName) : stored.reverted;
  if (reverted !== undefined) state.reverted = reverted;
  if (p === undefined) return { state };
  const id = p.reportId ? { reportId: p.reportId } : {};
  if (confirmed) {
    const delivery = p.delivery ? { delivery: p.delivery } : {};
    return {
      state,
      pending: p,
      report: {
        ...id,
        outcome: 'installed',
        health: 'healthy',
        version: p.version,
        targetName: p.targetName,
        ...delivery,
      },
    };
  }
  const base = { ...id, outcome: 'failed' as const, version: state.currentVersion, targetName: p.targetName };
  const report = failed
    ? // A trial that never confirmed looks exactly like an image that hangs or crashes on boot.
      {
        ...base,
        health: 'reverted' as const,
        errorCode: 'HEALTH_CHECK_FAILED',
        message: `${p.version} failed its health check and was reverted`,
      }
    : {
        ...base,
        errorCode: 'INSTALL_INTERRUPTED',
        message: `the install of ${p.version} stopped before its trial boot confirmed`,
      };
  return { state, pending: failed ? { ...p, trialFailed: true } : p, report };
}
