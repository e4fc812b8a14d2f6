import { defineQuery, defineUpdate } from '@temporalio/workflow';

import type { ReleaseStatus } from './release';

/**
 * The release workflow's messages. Updates (not signals) so a caller learns at once
 * whether the action was accepted; validators refuse bad input before it enters history.
 */
/**
 * Set by control/releases.ts (epoch ms): an update no worker took by then is refused by the
 * workflow, so one the API already answered NO_WORKER for never applies late (S-19).
 */
export interface Expiring {
  notAfter?: number;
}

export interface ApproveInput extends Expiring {
  approver: string;
  comment?: string;
}

export interface OpsInput extends Expiring {
  actor?: string;
  reason?: string;
  /** rollback only: offer this earlier release of the channel again. */
  to?: string;
}

export const approveUpdate = defineUpdate<ReleaseStatus, [ApproveInput]>('approve');
export const rejectUpdate = defineUpdate<ReleaseStatus, [ApproveInput]>('reject');
export const promoteUpdate = defineUpdate<ReleaseStatus, [OpsInput]>('promote');
export const abortUpdate = defineUpdate<ReleaseStatus, [OpsInput]>('abort');
export const pauseUpdate = defineUpdate<ReleaseStatus, [OpsInput]>('pause');
export const resumeUpdate = defineUpdate<ReleaseStatus, [OpsInput]>('resume');
export const rollbackUpdate = defineUpdate<ReleaseStatus, [OpsInput]>('rollback');
export const statusQuery = defineQuery<ReleaseStatus>('status');

/** Descriptions shown by the Temporal UI next to each handler. */
export const messageDescriptions = {
  approve:
    'Approve the release (or an approval-gated step). A release owner, not the creator. Input: {"approver": "name", "comment": "why"}',
  reject: 'Reject the release: it ends and is never offered. Input: {"approver": "name", "comment": "why"}',
  promote:
    'Skip the rest of the current step\'s bake time (approval gates still apply). Input: {"actor": "name", "reason": "why"}',
  abort: 'End the release now; anything offered is withdrawn. Input: {"actor": "name", "reason": "why"}',
  pause: 'Pause the rollout: no new device gets it. Input: {"actor": "name", "reason": "why"}',
  resume: 'Resume a paused rollout. Input: {"actor": "name", "reason": "why"}',
  rollback:
    'Withdraw the release: stop all offers for good; with "to", offer that earlier version again if its rollbackIndex allows. Input: {"actor": "name", "reason": "why", "to": "1.2.3"}',
  status: 'The release stage, percent, approvals and action history.',
} as const;
