import { join, resolve } from 'node:path';

import { httpOk, type ProcessManager } from './processes';

/** Where a stack's trace backend listens: OTLP/HTTP in, the search UI (and its HTTP API) out. */
export interface TracePorts {
  otlpPort: number;
  /** The query service's gRPC port is the next one, its health check the one after. */
  uiPort: number;
}

const CONFIG = join(resolve(__dirname, '..', '..', '..'), 'scripts', 'jaeger', 'config.yaml');

/**
 * Starts Jaeger (built by setup from the Go module proxy) with the stack's ports, or finds it
 * running; returns the OTLP base URL the API and worker export to (OTEL_EXPORTER_OTLP_ENDPOINT).
 */
export async function startTraceBackend(
  pm: ProcessManager,
  ports: TracePorts,
  log: (line: string) => void,
): Promise<{ otlpUrl: string; uiUrl: string }> {
  const health = `127.0.0.1:${ports.uiPort + 2}`;
  const jaeger = await pm.start({
    name: 'jaeger',
    command: 'jaeger',
    args: ['--config', CONFIG],
    env: {
      JAEGER_OTLP_HTTP_ADDRESS: `127.0.0.1:${ports.otlpPort}`,
      JAEGER_UI_ADDRESS: `127.0.0.1:${ports.uiPort}`,
      JAEGER_QUERY_GRPC_ADDRESS: `127.0.0.1:${ports.uiPort + 1}`,
      JAEGER_HEALTH_ADDRESS: health,
    },
    ready: () => httpOk(`http://${health}/status`),
  });
  const uiUrl = `http://127.0.0.1:${ports.uiPort}`;
  log(`jaeger ${jaeger} (traces UI ${uiUrl})`);
  return { otlpUrl: `http://127.0.0.1:${ports.otlpPort}`, uiUrl };
}
