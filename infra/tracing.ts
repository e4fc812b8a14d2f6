import { type Attributes, type Span, SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  NodeTracerProvider,
  ParentBasedSampler,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-node';

import type { Config } from './config';

/**
 * OpenTelemetry traces, off unless an OTLP endpoint is configured. Off means nothing at all:
 * no provider, no request middleware, no wrapped methods; `inSpan` is one comparison.
 * On, the process registers a provider (AsyncLocalStorage context, W3C trace context) that
 * Temporal's interceptors use too, so a span begun here is the parent of what they start.
 */
export interface Tracing {
  readonly resource: Resource;
  readonly spanProcessor: SpanProcessor;
  /** Sends what is queued, then stops tracing in this process. */
  shutdown(): Promise<void>;
}

let tracer: Tracer | undefined;

export function tracingOn(): boolean {
  return tracer !== undefined;
}

/** Starts tracing for one process (`enigm-ota-api`, `enigm-ota-worker`), or returns undefined when it is off. */
export function startTracing(
  service: 'api' | 'worker',
  traces: Config['observability']['traces'],
): Tracing | undefined {
  if (!traces) return undefined;
  const resource = new Resource({ 'service.name': `enigm-ota-${service}` });
  // Batched: a request never waits on the trace backend, and a backend that is down costs a
  // bounded queue (spans beyond it are dropped), never memory without end.
  const spanProcessor = new BatchSpanProcessor(new OTLPTraceExporter({ url: traces.url, timeoutMillis: 10_000 }), {
    maxQueueSize: 4096,
    scheduledDelayMillis: 1000,
  });
  const provider = new NodeTracerProvider({
    resource,
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(traces.sampleRatio) }),
    spanProcessors: [spanProcessor],
  });
  provider.register();
  tracer = provider.getTracer('enigm-ota');
  return {
    resource,
    spanProcessor,
    shutdown: async () => {
      tracer = undefined;
      await provider.shutdown();
    },
  };
}

/** A span about to start: its name, attributes and kind (internal unless said). */
export interface SpanStart {
  name: string;
  attributes: Attributes;
  kind?: SpanKind;
}

/**
 * Runs `fn` in a span (the active one while it runs, so what it calls nests under it), ended
 * when `fn` returns or its promise settles; a throw or rejection marks the span failed.
 * With tracing off it is `fn()`.
 */
export function inSpan<T>({ name, attributes, kind = SpanKind.INTERNAL }: SpanStart, fn: () => T): T {
  if (!tracer) return fn();
  return tracer.startActiveSpan(name, { kind, attributes }, (span) => {
    let result: T;
    try {
      result = fn();
    } catch (err) {
      endFailed(span, err);
      throw err;
    }
    if (!(result instanceof Promise)) {
      span.end();
      return result;
    }
    return result.then(
      (value: unknown) => {
        span.end();
        return value;
      },
      (err: unknown) => {
        endFailed(span, err);
        throw err;
      },
    ) as T;
  });
}

/**
 * Starts a span that the caller ends (a request, which ends when its response closes) and runs
 * `fn` with it active. Only called with tracing on.
 */
export function withOpenSpan(
  { name, attributes, kind = SpanKind.INTERNAL }: SpanStart,
  fn: (span: Span) => void,
): void {
  if (!tracer) throw new Error('withOpenSpan needs tracing on');
  tracer.startActiveSpan(name, { kind, attributes }, fn);
}

/**
 * Wraps the named methods of `target` in client spans `<prefix>.<method>` with the attributes
 * `attributes` reads from the call's arguments. With tracing off, `target` is left as it is.
 */
export function traceMethods<T extends object>(
  target: T,
  methods: readonly (keyof T & string)[],
  { prefix, attributes }: { prefix: string; attributes: (args: unknown[]) => Attributes },
): void {
  if (!tracer) return;
  for (const name of methods) {
    const method = target[name] as unknown as (...args: unknown[]) => unknown;
    if (typeof method !== 'function') throw new Error(`traceMethods: ${prefix}.${name} is not a method`);
    Object.defineProperty(target, name, {
      value: (...args: unknown[]) =>
        inSpan({ name: `${prefix}.${name}`, attributes: attributes(args), kind: SpanKind.CLIENT }, () =>
          method.apply(target, args),
        ),
      configurable: true,
      writable: true,
    });
  }
}

function endFailed(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
  span.end();
}
