/**
 * The release model shared by workflow, worker, CLI and API. Workflow-safe: types and
 * pure functions only (no Node APIs).
 */
export const STAGES = [
  'intake',
  'preparation',
  'manifest',
  'signing',
  'registration',
  'validation',
  'approval',
  'rollout',
  'stable',
  'rolled-back',
  'failed',
] as const;
export type Stage = (typeof STAGES)[number];

export interface RolloutStep {
  percent: number;
  bakeTimeMs: number;
}

export interface ReleaseSpec {
  version: string;
  channel: string;
  hardwareIds: string[];
  rollbackIndex: number;
  /** Object key in the intake bucket; the bytes never enter workflow history. */
  intakeKey: string;
  fileName: string;
  createdBy: string;
  steps: RolloutStep[];
}

/** Small, history-safe facts about the prepared artifact. */
export interface ArtifactRef {
  sha256: string;
  length: number;
  artifactKey: string;
}

export interface ReleaseTarget {
  name: string;
  length: number;
  sha256: string;
  custom: { version: string; channel: string; hardwareIds: string[]; rollbackIndex: number };
}

export interface Approval {
  approver: string;
  comment: string;
  at: string;
}

export interface ActionRecord {
  at: string;
  action: string;
  actor?: string;
  detail?: string;
}

export interface ReleaseStatus {
  releaseId: string;
  version: string;
  channel: string;
  hardwareIds: string[];
  stage: Stage;
  percent: number;
  paused: boolean;
  withdrawn: boolean;
  awaitingApproval: boolean;
  waitingFor: string;
  steps: RolloutStep[];
  stepIndex: number;
  approvals: Approval[];
  target?: ReleaseTarget;
  history: ActionRecord[];
  error?: { code: string; message: string };
}

/** One release per channel and version: the id makes a second start collide. */
export function releaseWorkflowId(channel: string, version: string): string {
  return `release-${channel}-${version}`;
}

/** Target names are paths inside the repositories; channel/version keeps them unique. */
export function targetName(channel: string, version: string, fileName: string): string {
  return `${channel}/${version}/${fileName}`;
}
