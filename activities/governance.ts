import { channelPolicy } from '../common/policy';
import type { ChannelPolicy } from '../common/release';
import { ServerError } from '../common/errors';
import type { TargetStats } from '../infra/fleetStore';
import type { ActivityDeps } from './deps';

/** The channel's approval rules, from the worker's policy (the creator cannot choose them). */
export async function loadChannelPolicy(deps: ActivityDeps, input: { channel: string }): Promise<ChannelPolicy> {
  return channelPolicy(deps.policy, input.channel);
}

/**
 * What devices reported for the release: the sample a health gate judges. The fleet store
 * belongs to the API (PGlite is single-process), so the worker asks the API.
 */
export async function rolloutHealth(deps: ActivityDeps, input: { targetName: string }): Promise<TargetStats> {
  const url = `${deps.apiUrl}/v1/fleet/targets/stats?name=${encodeURIComponent(input.targetName)}`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    throw new ServerError('UNAVAILABLE', `cannot reach the API for rollout health at ${deps.apiUrl}`, { cause: err });
  }
  if (!res.ok) throw new ServerError('UNAVAILABLE', `rollout health answered HTTP ${res.status}`);
  return (await res.json()) as TargetStats;
}
