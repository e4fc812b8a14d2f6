import type { PollOffer, RepositoryName } from '@enigm-ota/client-sdk';

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
export const OPERATOR_ROLES = ['admin', 'release-owner', 'operator', 'viewer', 'worker'] as const;

export type OperatorRole = (typeof OPERATOR_ROLES)[number];

export interface Operator {
  name: string;
  roles: OperatorRole[];
}

/** GET /v1/session: the signed-in operator, what they may do, and the token changes must carry. */
export interface SessionInfo {
  operator: Operator;
  /** The permissions of api/permissions.ts the operator's roles grant (the dashboard shows only those buttons). */
  permissions: string[];
  /** Send as the x-csrf-token header with every change made with the session cookie. */
  csrfToken: string;
  expiresAt: string;
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
  /**
   * `pending`: written before a change ran (api/auth.ts), so no change goes unrecorded; it
   * stays pending only when the outcome could not be written (or the client hung up first).
   */
  outcome: 'pending' | 'ok' | 'refused' | 'failed';
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
  /** Of the refused: devices that cannot install the release (common/refusals.ts); gates count them as failures. */
  blocked: number;
  /**
   * Devices whose latest report says they wait to install (D-19), by reason: outside the
   * release's signed install windows, not ready (their readiness hook), on a metered network.
   * Never failures: gates leave them out. Absent in numbers kept before devices could wait.
   */
  waiting?: { window: number; notReady: number; metered: number };
}

/**
 * How a release's installs came, from the devices' install reports: per kind, the
 * installs and the artifact bytes downloaded; `savedBytes` against every install taking the
 * full image, `deltaRefused` full images taken after the device refused a delta.
 */
export interface DeliverySummary {
  delta: { installs: number; bytes: number };
  full: { installs: number; bytes: number };
  deltaRefused: number;
  savedBytes: number;
  savedPercent: number;
}

/** The saving of a target's deliveries against full images of `targetLength` bytes for every install. */
export function deliverySummary(
  stats: Omit<DeliverySummary, 'savedBytes' | 'savedPercent'>,
  targetLength: number,
): DeliverySummary {
  const asFull = (stats.delta.installs + stats.full.installs) * targetLength;
  const savedBytes = Math.max(0, asFull - stats.delta.bytes - stats.full.bytes);
  return { ...stats, savedBytes, savedPercent: asFull === 0 ? 0 : Math.round((savedBytes / asFull) * 1000) / 10 };
}

export interface FleetSummary {
  devices: number;
  versions: Record<string, number>;
  outcomes: Record<string, number>;
  errorCodes: Record<string, number>;
}

/** The metadata re-signing Schedule: paused, the last run's outcome, the next run. */
export interface ScheduleState {
  exists: boolean;
  paused: boolean;
  note?: string;
  lastRun?: { startedAt: string; workflowId: string; status: string };
  nextRunAt?: string;
}

export interface RoleFreshness {
  role: 'root' | 'targets' | 'snapshot' | 'timestamp';
  /** The partition (`channel/hardwareId`) of a partitioned repository this role's file belongs to. */
  partition?: string;
  version: number;
  expires: string;
  hoursLeft: number;
  expiresSoon: boolean;
  /**
   * The highest version the servers have verified (absent: none recorded, or the root); above
   * `version` means storage was rolled back.
   */
  highestSeen?: number;
}

/** `GET /v1/admin/metadata/watermarks`: the highest verified version of a role any replica has read from storage. */
export interface MetadataWatermark {
  /** The repository, or one of its partitions (`rollout/p/stable/board-a`). */
  repo: string;
  role: 'timestamp' | 'snapshot' | 'targets';
  version: number;
  seenAt: string;
  /** The last time storage held an older version (refused with STORAGE_ROLLBACK). */
  lastRollback?: { at: string; version: number };
}

/** `ota metadata status` and GET /v1/admin/metadata. */
export interface MetadataStatus {
  repositories: Record<RepositoryName, RoleFreshness[]>;
  schedule: ScheduleState;
  /** The highest versions the servers have verified, with the last refused rollback of each. */
  watermarks: MetadataWatermark[];
  /**
   * False when a role expires within the freshness window, storage is rolled back, or the schedule
   * is missing, paused or failing.
   */
  healthy: boolean;
  problems: string[];
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

// ---- the operations dashboard (api/insightRoutes.ts, infra/insights.ts) ----

/**
 * How many devices of a channel ran each version at evenly spaced times: `points[0]` is at
 * `since`, each next one `bucketMs` later, the last at `until`. A version with no device at
 * a point is left out of that point.
 */
export interface AdoptionSeries {
  since: string;
  until: string;
  bucketMs: number;
  points: Array<{ at: string; versions: Record<string, number> }>;
}

/** A rollout step as it ran: from its start to the next step's (or the release's end; null while it runs). */
export interface StepWindow {
  step: number;
  percent: number;
  startedAt: string;
  endedAt: string | null;
  maxFailureRate: number;
  minDevices: number;
}

/** A step with the target's numbers as they stood when it ended (or now). */
export interface StepHealth extends StepWindow {
  stats: TargetStats;
}

/** `GET /v1/admin/releases/:channel/:version/insights`. */
export interface ReleaseInsights {
  adoption: AdoptionSeries;
  steps: StepHealth[];
}

/** `GET /v1/fleet/breakdown`: device counts per value; a device without a channel or hardware id counts as "(none)". */
export interface FleetBreakdown {
  total: number;
  versions: Record<string, number>;
  channels: Record<string, number>;
  hardwareIds: Record<string, number>;
  /** A device counts once in each of its groups; devices without groups are not counted here. */
  groups: Record<string, number>;
  statuses: Record<string, number>;
}

/** One install report as the device detail shows it (newest first). */
export interface DeviceReport {
  at: string;
  targetName: string | null;
  version: string;
  outcome: 'installed' | 'refused' | 'failed';
  health: 'healthy' | 'reverted' | null;
  errorCode: string | null;
  message: string | null;
}

/** `GET /v1/admin/devices/:id`: the device and its latest 50 reports, newest first. */
export type DeviceDetail = DeviceRecord & { reports: DeviceReport[] };

/** A webhook subscription as admins see it (its secret is shown once, at creation). */
export interface WebhookSubscription {
  id: number;
  url: string;
  types: string[];
  channel?: string;
  createdBy: string;
  createdAt: string;
  /** Deliveries waiting (or being retried), given up on, and delivered. */
  pending: number;
  dead: number;
  delivered: number;
}

/** A delivery of one event to one subscription: the subscription's delivery log. */
export interface WebhookDelivery {
  id: number;
  subscriptionId: number;
  eventId: number;
  type: string;
  subject: string;
  eventAt: string;
  state: 'pending' | 'delivered' | 'dead';
  attempts: number;
  nextAt?: string;
  lastAt?: string;
  lastStatus?: number;
  lastError?: string;
  deliveredAt?: string;
}

/** A release whose SBOM lists a component, and how many devices run that release now. */
export interface ComponentMatch {
  channel: string;
  version: string;
  component: { name: string; version: string; purl?: string };
  devices: number;
}

/**
 * The fleet store's rows that have leaves in the transparency log (ADR 0078, 0079): release
 * events, settled audit entries, and install reports' receipts.
 */
export const LOG_SOURCES = ['event', 'audit', 'receipt'] as const;
export type LogSource = (typeof LOG_SOURCES)[number];
