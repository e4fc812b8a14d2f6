import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { ReleaseStatus } from './release';

/**
 * The release workflow's messages. Updates (not signals) so a caller learns at once
 * whether the action was accepted; validators refuse bad input before it enters history.
 */
export interface ApproveInput {
  approver: string;
  comment?: string;
}

export interface OpsInput {
  actor?: string;
  reason?: string;
}

export const approveUpdate = defineUpdate<ReleaseStatus, [ApproveInput]>('approve');
export const pauseUpdate = defineUpdate<ReleaseStatus, [OpsInput]>('pause');
export const resumeUpdate = defineUpdate<ReleaseStatus, [OpsInput]>('resume');
export const rollbackUpdate = defineUpdate<ReleaseStatus, [OpsInput]>('rollback');
export const statusQuery = defineQuery<ReleaseStatus>('status');

/** Descriptions shown by the Temporal UI next to each handler. */
export const messageDescriptions = {
  approve: 'Approve the release for rollout. Input: {"approver": "name", "comment": "why"}',
  pause: 'Pause the rollout: no new device gets it. Input: {"actor": "name", "reason": "why"}',
  resume: 'Resume a paused rollout. Input: {"actor": "name", "reason": "why"}',
  rollback: 'Withdraw the release: stop all offers for good. Input: {"actor": "name", "reason": "why"}',
  status: 'The release stage, percent, approvals and action history.',
} as const;
