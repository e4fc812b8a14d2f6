import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Custom search attributes, so the Temporal UI can list releases by version, channel,
 * stage, percent and whether they wait for an approval. scripts/stack registers them.
 */
export const versionKey = defineSearchAttributeKey('OtaVersion', SearchAttributeType.KEYWORD);
export const channelKey = defineSearchAttributeKey('OtaChannel', SearchAttributeType.KEYWORD);
export const stageKey = defineSearchAttributeKey('OtaStage', SearchAttributeType.KEYWORD);
export const percentKey = defineSearchAttributeKey('OtaPercent', SearchAttributeType.DOUBLE);
export const awaitingApprovalKey = defineSearchAttributeKey('OtaAwaitingApproval', SearchAttributeType.BOOL);

export const searchAttributeKeys = [versionKey, channelKey, stageKey, percentKey, awaitingApprovalKey];
