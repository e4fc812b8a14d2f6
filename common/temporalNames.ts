import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

import { InputError } from './errors';

/**
 * Every name the Temporal side is addressed by: task queue, workflow types, the freshness
 * Schedule, custom search attributes, and the visibility queries built from them. The
 * worker, the control layer, activities, scripts and tests import them from here; no query
 * string is typed by hand.
 */
export const RELEASE_TASK_QUEUE = 'ota-release';

/** Workflow type names: the exported function names in workflows/ (a unit test checks they match). */
export const RELEASE_WORKFLOW = 'releaseWorkflow';
export const FRESHNESS_WORKFLOW = 'metadataFreshnessWorkflow';

/** The freshness Schedule's id: one per deployment, created by the worker at start-up. */
export const FRESHNESS_SCHEDULE_ID = 'ota-metadata-freshness';

/**
 * Custom search attributes, so the Temporal UI can list releases by version, channel,
 * stage, percent and whether they wait for an approval. scripts/lib/stack.ts registers them.
 */
export const versionKey = defineSearchAttributeKey('OtaVersion', SearchAttributeType.KEYWORD);
export const channelKey = defineSearchAttributeKey('OtaChannel', SearchAttributeType.KEYWORD);
export const stageKey = defineSearchAttributeKey('OtaStage', SearchAttributeType.KEYWORD);
export const percentKey = defineSearchAttributeKey('OtaPercent', SearchAttributeType.DOUBLE);
export const awaitingApprovalKey = defineSearchAttributeKey('OtaAwaitingApproval', SearchAttributeType.BOOL);

export const searchAttributeKeys = [versionKey, channelKey, stageKey, percentKey, awaitingApprovalKey];

export interface ReleaseQuery {
  version?: string;
  channel?: string;
  stage?: string;
  awaitingApproval?: boolean;
  /** Running releases, plus finished ones in this stage (e.g. stable). */
  runningOr?: { stage: string };
}

/**
 * A visibility query over release workflows. Values are quoted literals; one that could end
 * its quotes (a quote, a backslash, a control character) is refused, so no input can change
 * the query's meaning.
 */
export function releaseQuery(q: ReleaseQuery = {}): string {
  const clauses = [`WorkflowType = ${literal(RELEASE_WORKFLOW)}`];
  if (q.version !== undefined) clauses.push(`${versionKey.name} = ${literal(q.version)}`);
  if (q.channel !== undefined) clauses.push(`${channelKey.name} = ${literal(q.channel)}`);
  if (q.stage !== undefined) clauses.push(`${stageKey.name} = ${literal(q.stage)}`);
  if (q.awaitingApproval !== undefined) clauses.push(`${awaitingApprovalKey.name} = ${q.awaitingApproval}`);
  if (q.runningOr) clauses.push(`(ExecutionStatus = 'Running' OR ${stageKey.name} = ${literal(q.runningOr.stage)})`);
  return clauses.join(' AND ');
}

const UNQUOTABLE = /['"\\`\u0000-\u001f\u007f]/;

function literal(value: string): string {
  if (UNQUOTABLE.test(value) || value.length > 256)
    throw new InputError(`not a valid search value: ${JSON.stringify(value.slice(0, 64))}`);
  return `'${value}'`;
}
