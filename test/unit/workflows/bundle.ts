import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
let traced: Promise<WorkflowBundleWithSourceMap> | undefined;

/** The workflow code bundled once for every test in this process (bundling is most of their cost). */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({ workflowsPath: require.resolve('../../../workflows'), logger: quiet });
  return bundle;
}

/** The same code with the OpenTelemetry workflow interceptors, as a worker with tracing on runs it. */
export function tracedWorkflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  traced ??= bundleWorkflowCode({
    workflowsPath: require.resolve('../../../workflows'),
    workflowInterceptorModules: [require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors')],
    logger: quiet,
  });
  return traced;
}

const quiet = { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} };
