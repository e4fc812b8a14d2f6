import type { TargetStats } from '../common/adminApi';
import type { ChannelPolicy } from '../common/release';
import { channelPolicy } from '../common/rolloutPolicy';
import type { ActivityDeps } from './deps';

/** The channel's approval rules, from the worker's policy (the creator cannot choose them). */
export function loadChannelPolicy(deps: ActivityDeps, input: { channel: string }): Promise<ChannelPolicy> {
  return Promise.resolve(channelPolicy(deps.rolloutPolicy, input.channel));
}

/**
 * What devices reported for the release: the sample a health gate judges. The fleet store
 * belongs to the API (PGlite is single-process), so the worker asks the API, as a viewer.
 */
export async function rolloutHealth(deps: ActivityDeps, input: { targetName: string }): Promise<TargetStats> {
  return deps.api.get<TargetStats>(`/v1/fleet/targets/stats?name=${encodeURIComponent(input.targetName)}`);
}
