import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { Resource } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { makeWorkflowExporter } from '@temporalio/interceptors-opentelemetry';
import { type ReplayWorkerOptions, Worker } from '@temporalio/worker';
import { expect } from 'chai';

import { REPO_ROOT } from '../../paths';
import { tracedWorkflowBundle, workflowBundle } from './bundle';

const HISTORIES = join(REPO_ROOT, 'test', 'histories');

/**
 * Histories recorded from real releases (scripts/recordHistories.ts) replayed against
 * today's workflow code: a change that would break running releases fails here. The code
 * is bundled once (./bundle.ts) and one replay worker takes every history (a bundle per
 * history cost most of the unit tier's time).
 */
describe('recorded release histories', () => {
  const histories = async () => {
    const files = (await readdir(HISTORIES)).filter((f) => f.endsWith('.json')).sort();
    expect(files.length).to.be.greaterThan(3);
    return Promise.all(
      files.map(async (file) => ({
        workflowId: file.replace(/\.json$/, ''),
        // runReplayHistories reads the JSON form of a history (as `temporal workflow show` writes it).
        history: JSON.parse(await readFile(join(HISTORIES, file), 'utf8')) as unknown,
      })),
    );
  };
  const replayAll = async (options: ReplayWorkerOptions) => {
    const all = await histories();
    const replayed: string[] = [];
    for await (const result of Worker.runReplayHistories(options, all)) {
      expect(result.error, `${result.workflowId}: ${result.error?.message}`).to.equal(undefined);
      replayed.push(result.workflowId);
    }
    expect(replayed.sort()).to.deep.equal(all.map((h) => h.workflowId).sort());
  };

  it('replay without nondeterminism against the current workflow code', async () => {
    await replayAll({ workflowBundle: await workflowBundle(), replayName: 'recorded-releases' });
  });

  // Histories recorded with tracing off, replayed by a worker that has it on: turning tracing on
  // for running releases must not change a single command.
  it('replay without nondeterminism with the OpenTelemetry workflow interceptors (tracing on)', async () => {
    const exporter = new InMemorySpanExporter();
    await replayAll({
      workflowBundle: await tracedWorkflowBundle(),
      replayName: 'recorded-releases-traced',
      sinks: { exporter: makeWorkflowExporter(new SimpleSpanProcessor(exporter), new Resource({})) },
    });
  });
});
