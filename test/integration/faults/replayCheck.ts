import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';

import { workflowBundle } from '../../unit/workflows/bundle';

const FailedCause = temporal.api.enums.v1.WorkflowTaskFailedCause;

let runtimeInstalled = false;
/** Replay workers log every state change at INFO; the suite's output keeps warnings only. */
function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // Another test of this process installed the runtime first: its logger stays.
  }
}

/** One run of a release workflow: its id, run id and full event history. */
interface RecordedRun {
  workflowId: string;
  runId: string;
  history: temporal.api.history.v1.IHistory;
}

/** Every run of a workflow (continue-as-new makes several), oldest first, with its history. */
export async function runsOf(client: Client, workflowId: string): Promise<RecordedRun[]> {
  const runs: RecordedRun[] = [];
  for await (const wf of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    const history = await client.workflow.getHandle(workflowId, wf.runId).fetchHistory();
    runs.push({ workflowId, runId: wf.runId, history });
  }
  return runs.reverse();
}

/**
 * What a workflow's histories show against determinism: every workflow task the worker
 * failed (a nondeterminism error fails the task, so the history keeps it), and every run that
 * does not replay against today's code. Empty when the workflow never diverged.
 */
export async function replayProblems(client: Client, workflowId: string): Promise<string[]> {
  const runs = await runsOf(client, workflowId);
  const problems: string[] = [];
  if (runs.length === 0) problems.push(`${workflowId}: no runs`);
  for (const run of runs) {
    for (const event of run.history.events ?? []) {
      const failed = event.workflowTaskFailedEventAttributes;
      if (failed) {
        const cause = FailedCause[failed.cause ?? 0] ?? String(failed.cause);
        problems.push(
          `${workflowId} event ${String(event.eventId)}: workflow task failed (${cause}) ${failed.failure?.message ?? ''}`,
        );
      }
    }
  }
  quietRuntime();
  const replayed = Worker.runReplayHistories(
    { workflowBundle: await workflowBundle(), replayName: 'integration-replay' },
    runs.map((r) => ({ workflowId: r.workflowId, history: r.history })),
  );
  for await (const result of replayed) {
    if (result.error) problems.push(`${result.workflowId} replay: ${result.error.message}`);
  }
  return problems;
}

/**
 * Writes each run's history as `temporal workflow show -o json` does (the form the replay test
 * reads): fixtures for test/histories/ and post-mortems of a failing run.
 */
export async function saveHistories(
  client: Client,
  { workflowId, dir, address }: { workflowId: string; dir: string; address: string },
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  for (const [i, run] of (await runsOf(client, workflowId)).entries()) {
    const json = execFileSync(
      'temporal',
      ['workflow', 'show', '--address', address, '-w', workflowId, '-r', run.runId, '-o', 'json'],
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
    );
    const file = join(dir, `${workflowId}${i === 0 ? '' : `-run${i + 1}`}.json`);
    await writeFile(file, json);
    files.push(file);
  }
  return files;
}
