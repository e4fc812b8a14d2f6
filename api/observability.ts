import { randomUUID } from 'node:crypto';

import type { InstallReport, OtaErrorCode, PollOffer } from '@enigm-ota/client-sdk';
import { context, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { type Request, type RequestHandler, type Response, Router } from 'express';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

import type { Config } from '../infra/config';
import { createLogger, type Logger } from '../infra/log';
import { withOpenSpan } from '../infra/tracing';

/** A client's own id is kept only if it cannot break a log line or a header. */
const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Requests that matched no route share one label, so a scan of random paths adds no series. */
const UNMATCHED_ROUTE = 'unmatched';

// Install reports carry whatever a device (or a compromised one) sends: only the SDK's own codes become label
// values, anything else is `other`, so a device cannot create series at will. The Record
// type makes the compiler fail when the SDK adds or renames a code.
const KNOWN_ERROR_CODES: Record<OtaErrorCode, true> = {
  METADATA_UNTRUSTED: true,
  METADATA_EXPIRED: true,
  METADATA_ROLLBACK: true,
  METADATA_INCONSISTENT: true,
  METADATA_INVALID: true,
  METADATA_UNAVAILABLE: true,
  METADATA_STALE: true,
  TARGET_NOT_FOUND: true,
  TARGET_NAME_INVALID: true,
  TARGET_MISMATCH: true,
  TARGET_LENGTH_MISMATCH: true,
  TARGET_HASH_MISMATCH: true,
  DOWNLOAD_FAILED: true,
  DELTA_MISMATCH: true,
  DELTA_BASE_MISMATCH: true,
  DELTA_INVALID: true,
  DELTA_OUTPUT_MISMATCH: true,
  HARDWARE_MISMATCH: true,
  CHANNEL_MISMATCH: true,
  NOT_IN_ROLLOUT: true,
  ROLLOUT_PAUSED: true,
  RELEASE_WITHDRAWN: true,
  ROLLBACK_INDEX_TOO_LOW: true,
  NOT_NEWER: true,
  API_ERROR: true,
  NOT_ENROLLED: true,
  ENROLLMENT_REFUSED: true,
  INSTALL_INTERRUPTED: true,
  ATTESTATION_KEY_INVALID: true,
  SOURCE_VERSION_TOO_OLD: true,
  TARGET_REVERTED: true,
  RESPONSE_TOO_LARGE: true,
  INSTALL_FAILED: true,
  HEALTH_CHECK_FAILED: true,
  DEVICE_STATE_INVALID: true,
  CONFIG_INVALID: true,
  INSTALL_WINDOW_CLOSED: true,
  DEVICE_NOT_READY: true,
  NETWORK_METERED: true,
  BYTE_BUDGET_SPENT: true,
  INSTALLER_COMMAND_FAILED: true,
  RAUC_STATUS_INVALID: true,
  RAUC_SLOT_UNCONFIRMED: true,
  DOCUMENT_NOT_SIGNED: true,
  DOCUMENT_MISMATCH: true,
  LOG_INVALID: true,
  LOG_UNTRUSTED: true,
  LOG_UNWITNESSED: true,
  LOG_INCONSISTENT: true,
  LOG_NOT_INCLUDED: true,
  RECEIPT_MISSING: true,
  RECEIPT_MALFORMED: true,
  RECEIPT_SIGNATURE_INVALID: true,
  RECEIPT_MISMATCH: true,
};

/** The API's Prometheus metrics, in a registry of their own (no process-wide globals). */
export class ApiMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'ota_api_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'ota_api_http_request_duration_seconds',
    help: 'Time from request to the last byte of the response (or the client hanging up)',
    labelNames: ['method', 'route', 'status'] as const,
    // Polls should answer within milliseconds; artifact downloads take seconds to minutes.
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  readonly responseBytes = new Counter({
    name: 'ota_api_http_response_bytes_total',
    help: 'Response body bytes written, by method and route pattern (artifact bytes served: route="/v1/artifacts/:sha256")',
    labelNames: ['method', 'route'] as const,
    registers: [this.registry],
  });
  readonly polls = new Counter({
    name: 'ota_api_polls_total',
    help: 'Device polls answered, by whether an update was offered',
    labelNames: ['offered'] as const,
    registers: [this.registry],
  });
  readonly reports = new Counter({
    name: 'ota_api_install_reports_total',
    help: 'Install reports stored, by outcome, health and error code (none, an SDK code, or other)',
    labelNames: ['outcome', 'health', 'error_code'] as const,
    registers: [this.registry],
  });

  readonly storageRollbacks = new Counter({
    name: 'ota_metadata_storage_rollbacks_total',
    help: 'Reads of storage refused with STORAGE_ROLLBACK (a role older than already seen), by repository and role: alert on any increase',
    labelNames: ['repo', 'role'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}

interface RequestState {
  id: string;
  startNs: bigint;
  bytes: number;
  metrics: ApiMetrics;
  log: Logger;
  errorCode?: string;
  error?: unknown;
  /** The trace the request is in, when tracing is on. */
  traceId?: string;
}

const requests = new WeakMap<Response, RequestState>();

/**
 * Mounted first on the API: gives each request an id (echoed in `x-request-id`), writes
 * one JSON log line per request and records its metrics (`serveMetrics` exposes them).
 */
export function observe(
  config: Config,
  metrics = new ApiMetrics(),
  log: Logger = createLogger('api', config.observability.logLevel),
): Router {
  const r = Router();
  r.use((req, res, next) => {
    const incoming = req.get('x-request-id');
    const state: RequestState = {
      id: incoming !== undefined && SAFE_REQUEST_ID.test(incoming) ? incoming : randomUUID(),
      startNs: process.hrtime.bigint(),
      bytes: 0,
      metrics,
      log,
    };
    requests.set(res, state);
    res.setHeader('x-request-id', state.id);
    countBodyBytes(res, state);
    // 'close' comes after the last byte, and also when the client hangs up mid-response.
    res.once('close', () => {
      try {
        record(req, res, { state, log });
      } catch (err) {
        // Telemetry must never take the API down: this runs outside any request handler.
        log.warn({ err, requestId: state.id }, 'could not record request');
      }
    });
    next();
  });
  return r;
}

/**
 * One server span per request, mounted after `observe` and only with tracing on (api/server.ts),
 * named by the route pattern once the request has matched one, never by its URL; the request's
 * log line names the trace. Trace context a caller sends (`traceparent`) is not followed: every
 * trace starts here (S-33).
 */
export function traceRequests(): RequestHandler {
  return (req, res, next) => {
    const state = requests.get(res);
    const attributes = { 'http.request.method': req.method, ...(state && { 'ota.request_id': state.id }) };
    withOpenSpan({ name: req.method, attributes, kind: SpanKind.SERVER }, (span) => {
      if (state) state.traceId = span.spanContext().traceId;
      // Body parsers call on from the socket's events: bound, they run inside the request's span.
      const active = context.active();
      context.bind(active, req);
      context.bind(active, res);
      res.once('close', () => {
        const route = routeOf(req);
        span.updateName(`${req.method} ${route}`);
        span.setAttributes({ 'http.route': route, 'http.response.status_code': res.statusCode });
        if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      });
      next();
    });
  };
}

/** The route pattern a request matched, never its URL: ids and digests in paths would make every request a new series. */
function routeOf(req: Request): string {
  return req.route ? `${req.baseUrl}${String((req.route as { path: unknown }).path)}` : UNMATCHED_ROUTE;
}

/** The id this request is logged under (for error bodies). */
export function requestIdOf(res: Response): string | undefined {
  return requests.get(res)?.id;
}

/**
 * A failure of work that belongs to a request but may end after its log line (the audit
 * entry's outcome): one JSON line at error level with the request id, never a console dump.
 */
export function logRequestFailure(res: Response, err: unknown, msg: string): void {
  const state = requests.get(res);
  (state?.log ?? fallbackLog()).error({ requestId: state?.id, err }, msg);
}

let fallback: Logger | undefined;
/** For a response the API's `observe` never saw (a router mounted alone, in a test). */
function fallbackLog(): Logger {
  fallback ??= createLogger('api', 'info');
  return fallback;
}

export function notePoll(res: Response, offer: PollOffer | null): void {
  requests.get(res)?.metrics.polls.inc({ offered: offer ? 'true' : 'false' });
}

export function noteReport(res: Response, report: Pick<InstallReport, 'outcome' | 'health' | 'errorCode'>): void {
  const code = report.errorCode;
  const errorCode = code === undefined ? 'none' : Object.hasOwn(KNOWN_ERROR_CODES, code) ? code : 'other';
  requests
    .get(res)
    ?.metrics.reports.inc({ outcome: report.outcome, health: report.health ?? 'none', error_code: errorCode });
}

/** The error middleware says which code it answered with; an unexpected error is logged with its stack. */
export function noteError(res: Response, code: string, unexpected?: unknown): void {
  const state = requests.get(res);
  if (!state) return;
  state.errorCode = code;
  if (unexpected !== undefined) state.error = unexpected;
}

function record(req: Request, res: Response, { state, log }: { state: RequestState; log: Logger }): void {
  const seconds = Number(process.hrtime.bigint() - state.startNs) / 1e9;
  const route = routeOf(req);
  const labels = { method: req.method, route, status: String(res.statusCode) };
  state.metrics.requests.inc(labels);
  state.metrics.duration.observe(labels, seconds);
  state.metrics.responseBytes.inc({ method: req.method, route }, state.bytes);
  const line = {
    requestId: state.id,
    method: req.method,
    route,
    status: res.statusCode,
    durationMs: Math.round(seconds * 1e6) / 1e3,
    bytes: state.bytes,
    ...(state.errorCode !== undefined && { errorCode: state.errorCode }),
    ...(state.traceId !== undefined && { traceId: state.traceId }),
    ...(!res.writableFinished && { aborted: true }),
  };
  if (state.error !== undefined || res.statusCode >= 500) log.error({ ...line, err: state.error }, 'request failed');
  else log.info(line, 'request');
}

/** Counts body bytes as they are handed to the socket (HEAD and aborted downloads count what was sent). */
function countBodyBytes(res: Response, state: RequestState): void {
  const write = res.write.bind(res) as (...args: unknown[]) => boolean;
  const end = res.end.bind(res) as (...args: unknown[]) => Response;
  res.write = ((chunk: unknown, ...rest: unknown[]) => {
    state.bytes += byteLength(chunk, rest[0]);
    return write(chunk, ...rest);
  }) as Response['write'];
  res.end = ((...args: unknown[]) => {
    state.bytes += byteLength(args[0], args[1]);
    return end(...args);
  }) as Response['end'];
}

function byteLength(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string')
    return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
}

/** `GET /metrics` in Prometheus text format; the server mounts it behind an operator token. */
export function serveMetrics(metrics: ApiMetrics): RequestHandler {
  return (_req, res, next) => {
    metrics.registry.metrics().then((text) => res.type(metrics.registry.contentType).send(text), next);
  };
}
