import type { Context as ActivityContext } from '@temporalio/activity';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';

import type { Logger } from '../infra/log';

/** Most holds one worker takes: the variable is operator input like any other. */
const MAX_HOLDS = 32;
const HOLD = /^([A-Za-z]{1,64})@([A-Za-z0-9._/-]{1,200})$/;

/**
 * A failpoint for the fault-injection suite (test/integration/faults/): with
 * `OTA_FAULT_HOLD=activity@workflowId,...` this worker runs a matching activity to its end,
 * logs `fault hold: <activity> of <workflowId>` and then never completes it, so a test can
 * SIGKILL the worker at a known point: the work done, its completion lost, which is the
 * hardest moment for a retry. Unset (always, outside those tests) it adds no interceptor.
 * The hold lasts for this process's life: attempts that time out meanwhile are held again.
 */
export function faultHolds(spec: string | undefined, log: Logger): ActivityInterceptorsFactory[] {
  if (!spec) return [];
  const holds = spec
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean);
  if (holds.length > MAX_HOLDS) throw new Error(`OTA_FAULT_HOLD: at most ${MAX_HOLDS} holds`);
  const parsed = holds.map((h) => {
    const m = HOLD.exec(h);
    if (!m) throw new Error(`OTA_FAULT_HOLD: "${h}" is not activity@workflowId`);
    return { activity: m[1]!, workflowId: m[2]! };
  });
  log.warn({ holds: parsed }, 'fault holds armed: matching activities never complete (test failpoint)');
  return [
    (ctx: ActivityContext) => ({
      inbound: {
        async execute(input, next) {
          const result = await next(input);
          const { activityType } = ctx.info;
          const workflowId = ctx.info.workflowExecution?.workflowId;
          if (parsed.some((h) => h.activity === activityType && h.workflowId === workflowId)) {
            log.warn(
              { activityType, workflowId, attempt: ctx.info.attempt },
              `fault hold: ${activityType} of ${workflowId}`,
            );
            await new Promise<never>(() => undefined);
          }
          return result;
        },
      },
    }),
  ];
}
