/**
 * The custom fields carried by targets in the two repositories. The release repository
 * says what may be installed (signed by the release keys); the rollout repository says
 * to whom it is offered now (signed by the online rollout key).
 */
export interface ReleasePolicy {
  version: string;
  channel: string;
  hardwareIds: string[];
  rollbackIndex: number;
}

export interface RolloutState {
  percent: number;
  salt: string;
  paused: boolean;
  withdrawn: boolean;
  /** ISO time before which no device may install. */
  notBefore?: string;
  /**
   * Rollback to this (older) release: devices running one of these versions may install
   * it although it is not newer. The rollback index rule still applies.
   */
  downgradeFrom?: string[];
  /** Who approved this release for rollout, signed with the rollout state. */
  approvals?: Array<{ approver: string; at: string }>;
}

export type ReleaseCustom = ReleasePolicy;
export type RolloutCustom = ReleasePolicy & { rollout: RolloutState };

export const REPOSITORIES = ['release', 'rollout'] as const;
export type RepositoryName = (typeof REPOSITORIES)[number];

/** What the device knows about a verified target, from both repositories. */
export interface VerifiedTarget {
  name: string;
  length: number;
  sha256: string;
  policy: ReleasePolicy;
  rollout: RolloutState;
}
