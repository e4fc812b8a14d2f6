import type { Client } from '@temporalio/client';
import { type RequestHandler, Router } from 'express';

import type { ReleaseInsights, StepWindow } from '../common/adminApi';
import type { ReleaseStatus } from '../common/release';
import { releaseStatus } from '../control/releases';
import type { FleetStore } from '../infra/fleetStore';
import { Insights, MAX_BUCKETS } from '../infra/insights';
import type { Permission } from './permissions';
import { queryInteger, releaseOf } from './query';

export interface InsightRouteDeps {
  temporal: Client;
  fleet: FleetStore;
  guard: (permission: Permission) => RequestHandler;
}

const DEFAULT_BUCKETS = 60;

/** What the operations dashboard reads: a release's adoption and step health, the fleet's breakdown. */
export function insightRoutes(deps: InsightRouteDeps): Router {
  const r = Router();
  const { guard } = deps;
  // Made per request: the route table test builds these routers without a store.
  const insights = () => new Insights(deps.fleet.sql);

  r.get('/v1/admin/releases/:channel/:version/insights', guard('read'), async (req, res) => {
    const buckets = queryInteger(req, 'buckets', { fallback: DEFAULT_BUCKETS, min: 2, max: MAX_BUCKETS });
    const status = await releaseStatus(deps.temporal, releaseOf(req));
    res.json(await releaseInsights(insights(), status, { buckets }));
  });

  r.get('/v1/fleet/breakdown', guard('read'), async (_req, res) => {
    res.json(await insights().breakdown());
  });
  return r;
}

/**
 * Adoption on the release's channel from its first history record (registration) until
 * now, and each started step's health as it stood when the step ended.
 */
export async function releaseInsights(
  insights: Insights,
  status: ReleaseStatus,
  { buckets, now = new Date() }: { buckets: number; now?: Date },
): Promise<ReleaseInsights> {
  const first = status.history[0]?.at;
  // The worker's clock wrote the history; never ask for a series that starts after now.
  const since = first && Date.parse(first) < now.getTime() ? new Date(first) : now;
  const [adoption, steps] = await Promise.all([
    insights.adoption(status.channel, { since, until: now, buckets }),
    status.target ? insights.stepHealth(status.target.name, stepWindows(status), now) : [],
  ]);
  return { adoption, steps };
}

/** History actions after which no step of the release runs any more. */
const END_ACTIONS: ReadonlySet<string> = new Set(['rollback', 'abort', 'reject']);

/**
 * The steps that started, from the history's `step` records (detail "25%"): a step ends when
 * the next one starts or the release is withdrawn or aborted; a stable release's last step
 * keeps running (null). The history keeps its latest 100 records, so a long release's first
 * steps may be missing; a step is matched to the plan by its percent, in plan order.
 */
export function stepWindows(status: ReleaseStatus): StepWindow[] {
  const { history, steps } = status;
  const windows: StepWindow[] = [];
  let from = 0;
  history.forEach((rec, h) => {
    if (rec.action !== 'step') return;
    const index = steps.findIndex((s, i) => i >= from && `${s.percent}%` === rec.detail);
    if (index < 0) return;
    from = index + 1;
    const later = history.slice(h + 1);
    let end = later.find((r) => r.action === 'step' || END_ACTIONS.has(r.action));
    // A gate breach on a channel whose policy rolls back withdraws without a rollback record.
    if (!end && status.withdrawn) end = later.findLast((r) => r.action === 'gate-tripped');
    const step = steps[index]!;
    windows.push({
      step: index,
      percent: step.percent,
      startedAt: rec.at,
      endedAt: end?.at ?? null,
      maxFailureRate: step.maxFailureRate,
      minDevices: step.minDevices,
    });
  });
  return windows;
}
