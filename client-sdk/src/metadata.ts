import type { InstallWindow } from './installWindows';

/**
 * The custom fields carried by targets in the two repositories. The release repository
 * says what may be installed (signed by the release keys); the rollout repository says
 * to whom it is offered now (signed by the online rollout key).
 */
export interface ReleaseFields {
  version: string;
  channel: string;
  hardwareIds: string[];
  rollbackIndex: number;
  /**
   * Build compatibility: the oldest version a device may update from (a delta image, a
   * data migration that needs an intermediate release). Devices running anything older
   * refuse the release (D-15) and the API does not offer it.
   */
  minSourceVersion?: string;
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
  // Server-side targeting (the API's eligibility, fleet/eligibility.ts). Signed so that no
  // one but the rollout key can widen or narrow the audience, but it narrows the *offer*
  // only: devices do not know their groups, tags or attestation state and do not check them.
  /** Offered only to devices with fresh, passing remote attestation evidence. */
  attestationRequired?: boolean;
  /** Protected: the API hands the artifact only to devices eligible for this release. */
  protected?: boolean;
  /** Offered only to devices in at least one of these groups (1..32 names). */
  groups?: string[];
  /** Offered only to devices carrying every one of these tags with this value (at most 32). */
  tags?: Record<string, string>;
  /**
   * When devices may install (D-19): unlike targeting, every device checks these itself,
   * with its own clock, so no server can make it install outside them.
   */
  windows?: InstallWindow[];
}

export const REPOSITORIES = ['release', 'rollout'] as const;
export type RepositoryName = (typeof REPOSITORIES)[number];

/** What the device knows about a verified target, from both repositories. */
export interface VerifiedTarget {
  name: string;
  length: number;
  sha256: string;
  fields: ReleaseFields;
  rollout: RolloutState;
}
