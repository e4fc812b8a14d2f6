import type { OpsAction } from './adminApi';
import type { ReleaseStatus, Stage } from './release';

/** Stages after which a release takes no operation (its workflow is finishing or closed). */
export const TERMINAL_STAGES: readonly Stage[] = ['stable', 'rolled-back', 'rejected', 'aborted', 'failed'];

/**
 * Which operator action a release accepts in which state: the workflow's update validators
 * refuse the others (WRONG_STAGE), and the dashboard shows only the buttons these allow.
 */
export const OPS_RULES = {
  pause: { verb: 'pause', allowed: (s: ReleaseStatus) => s.stage === 'rollout' && !s.paused },
  resume: { verb: 'resume', allowed: (s: ReleaseStatus) => s.stage === 'rollout' && s.paused },
  promote: {
    verb: 'promote',
    allowed: (s: ReleaseStatus) => s.stage === 'rollout' && !s.paused && !s.awaitingApproval,
  },
  rollback: {
    verb: 'roll back',
    allowed: (s: ReleaseStatus) => ['approval', 'rollout'].includes(s.stage) && !s.withdrawn,
  },
  abort: { verb: 'abort', allowed: () => true },
} as const satisfies Record<OpsAction, { verb: string; allowed: (s: ReleaseStatus) => boolean }>;
