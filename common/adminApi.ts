import type { PollOffer } from '@enigm-ota/client-sdk';

/**
 * What the admin API answers: the shapes its routes return and the CLI (or any script)
 * reads. Server modules build these; the CLI imports only this module, never the server's.
 */

export type DeviceStatus = 'reported' | 'enrolled' | 'revoked';

/** A device as the fleet store knows it: identity, inventory and its latest evidence. */
export interface DeviceRecord {
  deviceId: string;
  hardwareId: string | null;
  channel: string | null;
  status: DeviceStatus;
  groups: string[];
  tags: Record<string, string>;
  currentVersion: string;
  certSerial: string | null;
  certNotAfter: string | null;
  enrolledAt: string | null;
  revokedAt: string | null;
  lastReportAt: string;
  attestation: AttestationRecord | null;
}

export interface AttestationRecord {
  verifiedAt: string;
  passed: boolean;
  reason: string;
  measurements?: unknown;
}

/**
 * Operator roles. `admin` only manages operators (so no one grants themselves the right to
 * approve their own release); the other three are the issue's: release-owner, operator,
 * viewer. What each may do is in api/permissions.ts.
 */
export const ROLES = ['admin', 'release-owner', 'operator', 'viewer'] as const;

export type Role = (typeof ROLES)[number];

export interface Operator {
  name: string;
  roles: Role[];
}

export interface OperatorRow extends Operator {
  createdBy: string;
  createdAt: string;
  revokedAt: string | null;
}

export interface AuditEntry {
  actor: string;
  action: string;
  subject: string;
  reason?: string;
  outcome: 'ok' | 'refused' | 'failed';
  detail?: string;
}

export interface AuditRow extends AuditEntry {
  id: number;
  at: string;
}

/** Latest report per device for one target: the sample a rollout gate judges. */
export interface TargetStats {
  devices: number;
  healthy: number;
  reverted: number;
  failed: number;
  refused: number;
}

export interface FleetSummary {
  devices: number;
  versions: Record<string, number>;
  outcomes: Record<string, number>;
  errorCodes: Record<string, number>;
}

export const OPS_ACTIONS = ['pause', 'resume', 'rollback', 'promote', 'abort'] as const;

export type OpsAction = (typeof OPS_ACTIONS)[number];

export interface ReleaseListItem {
  releaseId: string;
  version: string;
  channel: string;
  stage: string;
  percent: number;
  awaitingApproval: boolean;
  status: string;
  startedAt: string;
}

/** Every check, in the order a decision lists them. */
export const CHECKS = [
  'identity',
  'enrollment',
  'integrity',
  'attestation',
  'channel',
  'groups',
  'tags',
  'hardware',
  'buildCompatibility',
  'rollout',
] as const;

export type CheckName = (typeof CHECKS)[number];

/** `ota device explain DEVICE VERSION`: the decision for one release, for one device. */
export interface Explanation {
  deviceId: string;
  version: string;
  /** The signed rollout entry the decision is about; null when there is no such release. */
  targetName: string | null;
  eligible: boolean;
  /** `release` first (is there such a release on the device's channel), then every eligibility check. */
  checks: Array<{ check: 'release' | CheckName; ok: boolean; reason: string }>;
  /** What a poll by this device would be offered now: possibly another release (a newer one, or a rollback). */
  offer: PollOffer | null;
}
