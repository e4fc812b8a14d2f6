import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';

import { expect } from 'chai';
import { Agent, fetch } from 'undici';

import { waitForStatus } from '../../../control/releases';
import { ProcessManager } from '../../../scripts/lib/processes';
import { stackUp, TEST_PROFILE } from '../../../scripts/lib/stack';
import { waitFor } from '../../wait';
import { ota, otaAs, releaseAwaitingApproval, stepPublished, temporalClient, testConfig } from '../helpers';
import { TEST_EXTRA_ENV } from '../setup';

/** A trace as Jaeger's query API answers it. */
interface JaegerTrace {
  traceID: string;
  spans: {
    spanID: string;
    operationName: string;
    references: { refType: string; spanID: string }[];
    processID: string;
    tags: { key: string; value: unknown }[];
  }[];
  processes: Record<string, { serviceName: string }>;
}

/**
 * OpenTelemetry traces across the API, the Temporal client, the release workflow, its
 * activities and their storage and HSM calls, exported over OTLP to a real Jaeger (built by
 * setup from the Go module proxy) that the stack starts. The suite's stack runs with tracing
 * off (the default); this file restarts the API and worker with it on, then puts them back.
 */
describe('traces: an API request followed through the workflow to its activities, storage and the HSM', function () {
  this.timeout(300_000);
  const pm = new ProcessManager(TEST_PROFILE.home);
  const jaeger = `http://127.0.0.1:${TEST_PROFILE.traces.uiPort}`;
  let ca: Buffer;
  let agent: Agent;

  const jaegerGet = async <T>(path: string): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${jaeger}${path}`);
    return { status: res.status, body: (await res.json()) as T };
  };
  /** The newest log line of a request that `match` picks (lines are written as responses close). */
  const requestLine = (what: string, match: (line: Record<string, unknown>) => boolean) =>
    waitFor(`the API's log line of ${what}`, async () =>
      (await readFile(pm.logFile('api'), 'utf8'))
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .findLast((l) => l['msg'] === 'request' && match(l)),
    );

  before(async function () {
    this.timeout(180_000);
    ca = await readFile(testConfig().identity.fleetCaCert);
    agent = new Agent({ connect: { ca } });
    await pm.stop('api');
    await pm.stop('worker');
    await stackUp(TEST_PROFILE, { extraEnv: TEST_EXTRA_ENV, traces: true });
  });
  after(async function () {
    this.timeout(180_000);
    await agent.close();
    await pm.stop('api');
    await pm.stop('worker');
    await pm.stop('jaeger');
    await stackUp(TEST_PROFILE, { extraEnv: TEST_EXTRA_ENV });
  });

  /** The trace of the newest request to `route` (its log line names it), once spans of every name in `names` are in Jaeger. */
  const traceOf = async (route: string, names: string[]) => {
    // Lines of this stack's earlier, untraced life name no trace.
    const line = await requestLine(
      route,
      (l) => `${String(l['method'])} ${String(l['route'])}` === route && l['traceId'] !== undefined,
    );
    expect(line?.['status'], route).to.equal(200);
    const traceId = line?.['traceId'];
    expect(traceId, 'the request log line names its trace').to.match(/^[0-9a-f]{32}$/);
    // Spans leave each process in batches (every second), the API's and the worker's apart.
    const trace = await waitFor(
      `the trace of ${route} in Jaeger`,
      async () => {
        const t = (await jaegerGet<{ data?: JaegerTrace[] }>(`/api/traces/${String(traceId)}`)).body.data?.[0];
        if (!t || !names.every((n) => t.spans.some((span) => span.operationName === n))) return undefined;
        // And every parent is in: a workflow's spans leave the worker after the activity's.
        const ids = new Set(t.spans.map((span) => span.spanID));
        return t.spans.every((span) => span.references.every((r) => ids.has(r.spanID))) ? t : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    return new TraceView(trace);
  };

  it('an approval and a pause are each one trace: the request, its update, the workflow handling it, the activities and their storage and HSM calls', async () => {
    await releaseAwaitingApproval('traces', '1.0.0', { steps: '50,100', bake: '1h' });
    const approved = await otaAs('test-owner', 'release', 'approve', '1.0.0', '--channel', 'traces', '--json');
    expect(approved.code, approved.stdout + approved.stderr).to.equal(0);
    await waitForStatus(await temporalClient(), { channel: 'traces', version: '1.0.0' }, stepPublished(50));

    const approval = 'POST /v1/admin/releases/:channel/:version/approve';
    const a = await traceOf(approval, [approval, 'StartWorkflowUpdate:approve', 'RunActivity:recordReleaseEvents']);
    a.expectRoot(approval, 'enigm-ota-api');
    a.expectChain(['StartWorkflowUpdate:approve', approval], 'enigm-ota-api');
    a.expectChain(['HandleUpdate:approve', 'StartWorkflowUpdate:approve', approval], 'enigm-ota-worker');
    a.expectChain(
      ['RunActivity:recordReleaseEvents', 'StartActivity:recordReleaseEvents', 'HandleUpdate:approve'],
      'enigm-ota-worker',
    );

    const paused = await ota('release', 'pause', '1.0.0', '--channel', 'traces', '--json');
    expect(paused.code, paused.stdout + paused.stderr).to.equal(0);
    const pause = 'POST /v1/admin/releases/:channel/:version/pause';
    const p = await traceOf(pause, [pause, 'StartWorkflowUpdate:pause', 'RunActivity:publishRollout', 'hsm.sign']);
    p.expectRoot(pause, 'enigm-ota-api');
    p.expectChain(['HandleUpdate:pause', 'StartWorkflowUpdate:pause', pause], 'enigm-ota-worker');
    p.expectChain(
      ['RunActivity:publishRollout', 'StartActivity:publishRollout', 'HandleUpdate:pause'],
      'enigm-ota-worker',
    );
    // The rollout state signed in the HSM and written to storage, inside the activity.
    const signatures = p.named((n) => n === 'hsm.sign');
    const writes = p.named((n) => n.startsWith('storage.put'));
    expect(signatures, 'HSM signatures').to.have.length.above(0);
    expect(writes, 'storage writes').to.have.length.above(0);
    for (const s of [...signatures, ...writes]) {
      expect(p.serviceOf(s)).to.equal('enigm-ota-worker');
      expect(p.ancestors(s), s.operationName).to.include.members([
        'RunActivity:publishRollout',
        'HandleUpdate:pause',
        pause,
      ]);
    }
    expect(writes.flatMap((s) => s.tags.filter((t) => t.key === 'ota.storage.bucket').map((t) => t.value))).to.include(
      'metadata',
    );
  });

  it('a trace context sent by the caller is not followed: the request starts a trace of its own', async () => {
    const foreign = randomBytes(16).toString('hex');
    const res = await fetch(`${testConfig().api.url}/v1/admin/releases`, {
      dispatcher: agent,
      headers: {
        authorization: `Bearer ${process.env['OTA_TOKEN']!}`,
        traceparent: `00-${foreign}-${randomBytes(8).toString('hex')}-01`,
      },
    });
    expect(res.status).to.equal(200);
    await res.arrayBuffer();
    const requestId = res.headers.get('x-request-id');
    const line = await requestLine(`request ${String(requestId)}`, (l) => l['requestId'] === requestId);
    expect(line?.['traceId']).to.match(/^[0-9a-f]{32}$/);
    expect(line?.['traceId']).to.not.equal(foreign);
    const own = await waitFor(
      'the request trace in Jaeger',
      async () =>
        (await jaegerGet<{ data?: JaegerTrace[] }>(`/api/traces/${String(line?.['traceId'])}`)).body.data?.[0],
      { intervalMs: 500 },
    );
    new TraceView(own).expectRoot('GET /v1/admin/releases', 'enigm-ota-api');
    expect((await jaegerGet(`/api/traces/${foreign}`)).status).to.equal(404);
  });
});

type JaegerSpan = JaegerTrace['spans'][number];

/** A trace's spans by parent: what a test asserts about who called whom. */
class TraceView {
  private readonly byId: Map<string, JaegerSpan>;

  constructor(private readonly trace: JaegerTrace) {
    this.byId = new Map(trace.spans.map((s) => [s.spanID, s]));
  }

  named(match: (name: string) => boolean): JaegerSpan[] {
    return this.trace.spans.filter((s) => match(s.operationName));
  }

  serviceOf(span: JaegerSpan): string | undefined {
    return this.trace.processes[span.processID]?.serviceName;
  }

  /** The names of the span's parent, its parent's parent... up to the root. */
  ancestors(span: JaegerSpan): string[] {
    const names: string[] = [];
    const parentOf = (s: JaegerSpan) => this.byId.get(s.references.find((r) => r.refType === 'CHILD_OF')?.spanID ?? '');
    for (let p = parentOf(span); p; p = parentOf(p)) names.push(p.operationName);
    return names;
  }

  /** One span of this name, in `service`, with no parent: the trace starts there. */
  expectRoot(name: string, service: string): void {
    const span = this.one(name);
    expect(this.serviceOf(span)).to.equal(service);
    expect(span.references, `${name} starts the trace`).to.deep.equal([]);
  }

  /** A span `chain[0]` in `service` whose ancestors include the rest of `chain`, in that order. */
  expectChain(chain: string[], service: string): void {
    const span = this.one(chain[0]!);
    expect(this.serviceOf(span), chain[0]).to.equal(service);
    const ancestors = this.ancestors(span);
    expect(ancestors, chain[0]).to.include.members(chain.slice(1));
    const positions = chain.slice(1).map((n) => ancestors.indexOf(n));
    expect(positions, `${chain.join(' <- ')} in the order of ${ancestors.join(' <- ')}`).to.deep.equal(
      [...positions].sort((x, y) => x - y),
    );
  }

  private one(name: string): JaegerSpan {
    const span = this.trace.spans.find((s) => s.operationName === name);
    expect(span, `a span ${name} among ${this.trace.spans.map((s) => s.operationName).join(', ')}`).to.not.equal(
      undefined,
    );
    return span!;
  }
}
