import type { AttestationEvidence } from './attestation';
import { ApiRequestError, OtaError, TransportError, type WaitReason } from './errors';
import type { Delivery } from './imageFetch';
import { type DeviceLimits, reportMessage } from './limits';
import type { Receipt } from './receipt';
import { realRetryDeps, type RetryOptions, withRetry } from './retry';
import { type Fetch, type FetchAnswer, plainFetch } from './transport';

/** A checkpoint and two proofs of at most 63 hashes each, in base64 JSON: well under this. */
const MAX_LOG_PROOF_BYTES = 16 * 1024;

/** The API's answer to a poll: a hint about which target to look at, never a permission. */
export interface PollOffer {
  targetName: string;
  version: string;
}

export interface PollRequest {
  deviceId: string;
  hardwareId: string;
  channel: string;
  currentVersion: string;
}

type ReportOutcome = 'installed' | 'refused' | 'failed' | 'waiting';

export interface InstallReport {
  deviceId: string;
  /** Idempotency key: the API stores a report with the same id from the same device once. */
  reportId?: string;
  version: string;
  targetName?: string;
  outcome: ReportOutcome;
  /** After an install: the new version booted healthy, or failed and was reverted. */
  health?: 'healthy' | 'reverted';
  errorCode?: string;
  message?: string;
  /** With a waiting report: why the device does not install the target yet (D-19). */
  waitReason?: WaitReason;
  /** With an installed report: how the image came (delta or full image) and the bytes downloaded. */
  delivery?: Delivery;
  /** The device's signature over the report's claims (receipt.ts); the API refuses a report without one. */
  receipt?: Receipt;
}

export interface DeviceApiClientOptions {
  /** The API's address, without a trailing slash (`https://ota.example.com`). */
  baseUrl: string;
  /** Each request's caps: the response body's size (D-11) and the time it may take. */
  limits: Pick<DeviceLimits, 'maxApiResponseBytes' | 'fetchTimeoutMs'>;
  /** The device's transport (mutual TLS); plain fetch when absent. */
  transport?: Fetch;
  /** Absent: each request is tried once. */
  retry?: RetryOptions;
}

/**
 * Thin HTTP client for the device API; every response body is size-capped. With a retry
 * policy, a request that got no answer, a 5xx or a 429 is repeated with backoff (retry.ts).
 */
export class DeviceApiClient {
  readonly baseUrl: string;
  private readonly maxResponseBytes: number;
  private readonly timeoutMs: number;
  private readonly transport: Fetch;
  private readonly retry: RetryOptions | undefined;

  constructor(options: DeviceApiClientOptions) {
    this.baseUrl = options.baseUrl;
    this.maxResponseBytes = options.limits.maxApiResponseBytes;
    this.timeoutMs = options.limits.fetchTimeoutMs;
    this.transport = options.transport ?? plainFetch;
    this.retry = options.retry;
  }

  metadataUrl(repo: string): string {
    return `${this.baseUrl}/v1/repos/${repo}/metadata/`;
  }

  /** A partition's files (`channel/hardwareId`); roots are served there too. */
  partitionMetadataUrl(repo: string, partition: string): string {
    return `${this.baseUrl}/v1/repos/${repo}/p/${partition.split('/').map(encodeURIComponent).join('/')}/metadata/`;
  }

  artifactUrl(sha256: string): string {
    return `${this.baseUrl}/v1/artifacts/${sha256}`;
  }

  async poll(request: PollRequest): Promise<PollOffer | null> {
    const body = (await this.post('/v1/poll', request)) as { offer?: PollOffer | null };
    const offer = body.offer ?? null;
    if (offer !== null && (typeof offer.targetName !== 'string' || typeof offer.version !== 'string')) {
      throw new TransportError('API_ERROR', 'malformed poll response');
    }
    return offer;
  }

  async report(report: InstallReport): Promise<void> {
    await this.post(
      '/v1/reports',
      report.message === undefined ? report : { ...report, message: reportMessage(report.message) },
    );
  }

  async attestationNonce(): Promise<string> {
    const body = (await this.post('/v1/attestation/nonce', {})) as { nonce?: unknown };
    if (typeof body.nonce !== 'string') throw new TransportError('API_ERROR', 'malformed nonce answer');
    return body.nonce;
  }

  async attest(evidence: AttestationEvidence): Promise<void> {
    await this.post('/v1/attestation', evidence);
  }

  /** Enrollment and renewal: a PEM certificate for the device (the server checks it was asked for). */
  async certificate(path: '/v1/enroll' | '/v1/devices/renew', payload: unknown): Promise<string> {
    const cert = ((await this.post(path, payload)) as { certificate?: unknown }).certificate;
    if (typeof cert !== 'string' || !cert.startsWith('-----BEGIN CERTIFICATE-----') || cert.length > 16_384) {
      throw new TransportError('API_ERROR', `${path} answered no certificate`);
    }
    return cert;
  }

  /**
   * The transparency log's proofs for a signed metadata file (by its leaf hash), consistent
   * from the log size the device kept: untrusted, checked by transparency/logWatch.ts.
   */
  logProof(leafHex: string, from: number): Promise<unknown> {
    return this.send('GET', `/v1/log/proof?leaf=${leafHex}&from=${from}`, { maxBytes: MAX_LOG_PROOF_BYTES });
  }

  private post(path: string, payload: unknown): Promise<unknown> {
    return this.send('POST', path, { payload });
  }

  private send(method: 'GET' | 'POST', path: string, o: { payload?: unknown; maxBytes?: number }): Promise<unknown> {
    if (!this.retry) return this.sendOnce(method, path, o);
    return withRetry(() => this.sendOnce(method, path, o), this.retry.policy, this.retry.deps ?? realRetryDeps);
  }

  private async sendOnce(
    method: 'GET' | 'POST',
    path: string,
    o: { payload?: unknown; maxBytes?: number },
  ): Promise<unknown> {
    let response: FetchAnswer;
    try {
      response = await this.transport(`${this.baseUrl}${path}`, {
        method,
        ...(method === 'POST' && {
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(o.payload),
        }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new ApiRequestError(`cannot reach ${this.baseUrl}${path}`, undefined, { cause: err });
    }
    const text = await readCapped(response, Math.min(this.maxResponseBytes, o.maxBytes ?? Infinity));
    if (!response.ok) {
      const message = `${path} answered HTTP ${response.status}: ${text.slice(0, 200)}`;
      // A refused enrollment is the operator's to fix (a new token), not a transport problem.
      if (serverCode(text) === 'ENROLLMENT_REFUSED') throw new OtaError('ENROLLMENT_REFUSED', message);
      throw new ApiRequestError(message, {
        status: response.status,
        retryAfter: response.headers.get('retry-after') ?? undefined,
      });
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new TransportError('API_ERROR', `${path} answered invalid JSON`, { cause: err });
    }
  }
}

function serverCode(text: string): string | undefined {
  try {
    return (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

/** D-11: every API response body is size-capped. */
async function readCapped(response: FetchAnswer, max: number): Promise<string> {
  if (!response.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      throw new OtaError('RESPONSE_TOO_LARGE', `API response exceeds ${max} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
