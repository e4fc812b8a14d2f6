/**
 * The release model shared by workflow, worker, CLI and API. Workflow-safe: types and
 * pure functions only (no Node APIs).
 */
import type { InstallWindow } from '@enigm-ota/client-sdk/installWindows';

import type { ReleaseDocuments } from './releaseDocuments';

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
  'rejected',
  'aborted',
  'failed',
] as const;
export type Stage = (typeof STAGES)[number];

/** The release model's lifecycle, over the workflow's finer stages. */
export type Lifecycle = 'draft' | 'validation' | 'limited-rollout' | 'stable' | 'ended';

export function lifecycleOf(stage: Stage, percent: number): Lifecycle {
  if (['intake', 'preparation', 'manifest', 'signing', 'registration'].includes(stage)) return 'draft';
  if (stage === 'validation' || stage === 'approval') return 'validation';
  if (stage === 'rollout') return percent >= 100 ? 'stable' : 'limited-rollout';
  return stage === 'stable' ? 'stable' : 'ended';
}

/**
 * One step of a rollout plan. After the bake time, the step's health gate needs at least
 * `minDevices` health reports for the release, with reverted / reports at most
 * `maxFailureRate`; `gate: 'approval'` also needs an owner's approval before the step starts.
 */
export interface RolloutStep {
  percent: number;
  bakeTimeMs: number;
  minDevices: number;
  maxFailureRate: number;
  gate: 'auto' | 'approval';
}

/** Who must approve, and what happens on a health-gate breach, for a channel. */
export interface ChannelPolicy {
  approvals: number;
  /** Release owners allowed to approve; '*' allows anyone but the release's creator. */
  owners: string[];
  plan: string;
  onBreach: 'pause' | 'rollback';
}

export interface GateState {
  step: number;
  percent: number;
  minDevices: number;
  maxFailureRate: number;
  reports: number;
  failures: number;
  /** Of the failures: devices that refused the release as one they cannot install (absent before this was counted). */
  blocked?: number;
  failureRate: number;
  result: 'waiting' | 'passed' | 'tripped';
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
  /** Name of the plan the steps came from (or 'custom'). */
  plan: string;
  steps: RolloutStep[];
  /** Security releases take an expedited plan; they still need their approvals. */
  security?: boolean;
  /** History events per run before continue-as-new (default 10 000). */
  historyLimit?: number;
  /** Build compatibility: devices must run at least this version (signed; devices check it). */
  minSourceVersion?: string;
  /** Who the rollout is offered to beyond channel and hardware (signed rollout fields). */
  targeting?: Targeting;
  /** Delta updates from this many earlier releases of the channel and hardware (the plan's; absent: 2). */
  deltaBases?: number;
  /** When devices may install it (signed rollout field; every device checks it by its own clock: D-19). */
  windows?: InstallWindow[];
  /** Its SBOM and provenance, stored and checked by the API; their digests are signed into the target. */
  documents?: ReleaseDocuments;
  /** The artifacts the provenance is about (sha256): the release's own must be one of them. */
  provenanceSubjects?: string[];
}

/** Rollout targeting: the API offers only to matching devices; attestation adds eligibility. */
export interface Targeting {
  attestationRequired?: boolean;
  /** The artifact is handed only to devices eligible for the release (api/artifacts.ts). */
  protected?: boolean;
  groups?: string[];
  tags?: Record<string, string>;
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
  custom: {
    version: string;
    channel: string;
    hardwareIds: string[];
    rollbackIndex: number;
    minSourceVersion?: string;
    documents?: ReleaseDocuments;
  };
  /** Signed into every rollout entry of the release (each step, pause, resume, withdrawal). */
  targeting?: Targeting;
  /** Install windows, signed into every rollout entry of the release like its targeting. */
  windows?: InstallWindow[];
  /** Delta updates to this target, each a signed target of its own in both repositories (D-17). */
  deltas?: DeltaTarget[];
}

/** One delta update: its artifact (content-addressed like any other) and the base image it applies to. */
export interface DeltaTarget {
  name: string;
  length: number;
  sha256: string;
  base: { sha256: string; length: number; version: string };
}

interface Approval {
  approver: string;
  comment: string;
  at: string;
  /** 'release' for the release approval, 'step-N' for an approval-gated step. */
  round: string;
  decision: 'approve' | 'reject';
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
  /** draft -> validation -> limited-rollout -> stable (or ended: rolled back, rejected, aborted, failed). */
  lifecycle: Lifecycle;
  /** The step's percent as the workflow has it: ahead of `published` until the signed write lands. */
  percent: number;
  /** The signed rollout state in storage, what devices are offered; absent before the first publish. */
  published?: { percent: number; paused: boolean; withdrawn: boolean; at: string };
  paused: boolean;
  withdrawn: boolean;
  awaitingApproval: boolean;
  waitingFor: string;
  steps: RolloutStep[];
  stepIndex: number;
  approvals: Approval[];
  approvalsRequired: number;
  /** The latest health-gate evaluation, with its numbers. */
  gate?: GateState;
  createdBy: string;
  plan: string;
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

/** The TUF target a release's artifact becomes: its name, hashes and the policy fields devices check. */
export function releaseTarget(input: {
  spec: ReleaseSpec;
  artifact: ArtifactRef;
  deltas?: DeltaTarget[];
}): ReleaseTarget {
  const { spec, artifact, deltas } = input;
  return {
    name: targetName(spec.channel, spec.version, spec.fileName),
    length: artifact.length,
    sha256: artifact.sha256,
    custom: {
      version: spec.version,
      channel: spec.channel,
      hardwareIds: spec.hardwareIds,
      rollbackIndex: spec.rollbackIndex,
      ...(spec.minSourceVersion !== undefined ? { minSourceVersion: spec.minSourceVersion } : {}),
      ...(spec.documents && Object.keys(spec.documents).length > 0 ? { documents: spec.documents } : {}),
    },
    ...(spec.targeting ? { targeting: spec.targeting } : {}),
    ...(spec.windows ? { windows: spec.windows } : {}),
    ...(deltas && deltas.length > 0 ? { deltas } : {}),
  };
}
