import { ServerError } from '../common/errors';
import type { Config } from './config';
import { inSpan } from './tracing';

/** Entries are small records; the tile format gives each a 16-bit length. */
const MAX_ENTRY_BYTES = 65_535;
const MAX_CHECKPOINT_BYTES = 4096;
const MAX_PROOF_BYTES = 64 * 1024;
/** A full entry bundle: 256 entries with their 2-byte lengths. */
const MAX_BUNDLE_BYTES = 256 * (MAX_ENTRY_BYTES + 2);
const TILE_WIDTH = 256;
const TIMEOUT_MS = 30_000;

/** Where an entry landed: its index, and the first checkpoint that covers it. */
export interface Appended {
  index: number;
  checkpoint: string;
}

/** What appends to the log: metadata signing (worker) and the shipper (API). */
export interface LogAppender {
  append(entry: Buffer): Promise<Appended>;
}

/**
 * The transparency log server (scripts/tlog: Tessera with its key in the HSM) over HTTP.
 * Nothing it returns is trusted here: callers verify checkpoints against the pinned key and
 * proofs against checkpoints (client-sdk/transparency). Every answer has a size limit.
 */
export class TransparencyLog implements LogAppender {
  constructor(private readonly config: Pick<NonNullable<Config['transparency']>, 'url'> & { writeToken?: string }) {}

  append(entry: Buffer): Promise<Appended> {
    if (entry.length === 0 || entry.length > MAX_ENTRY_BYTES)
      throw new ServerError('INVALID_INPUT', `a log entry is 1 to ${MAX_ENTRY_BYTES} bytes`);
    return inSpan({ name: 'tlog.append', attributes: { 'ota.tlog.entry_bytes': entry.length } }, async () => {
      const body = await this.request('/add', MAX_CHECKPOINT_BYTES * 2, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${this.config.writeToken ?? ''}`,
          'content-type': 'application/octet-stream',
        },
        body: entry,
      });
      const parsed = parseJson(body) as { index?: unknown; checkpoint?: unknown };
      if (!Number.isSafeInteger(parsed.index) || typeof parsed.checkpoint !== 'string')
        throw new ServerError('UNAVAILABLE', 'the transparency log answered an append with something else');
      return { index: parsed.index as number, checkpoint: parsed.checkpoint };
    });
  }

  async checkpoint(): Promise<string> {
    return (await this.request('/checkpoint', MAX_CHECKPOINT_BYTES)).toString('utf8');
  }

  /** The log's verifier key as it says it: for display only, never for verification. */
  async claimedKey(): Promise<string> {
    return (await this.request('/vkey', 1024)).toString('utf8').trim();
  }

  inclusionProof(index: number, size: number): Promise<Buffer[]> {
    return this.proof(`/proof/inclusion?index=${index}&size=${size}`);
  }

  consistencyProof(oldSize: number, newSize: number): Promise<Buffer[]> {
    return this.proof(`/proof/consistency?old=${oldSize}&new=${newSize}`);
  }

  /**
   * Entries [from, to) of the log (`to` at most its published size), read from its entry
   * bundles. A bundle is read at the width the log has now: a partial bundle exists only for
   * sizes the log published, and is removed once a wider one replaces it (then read again).
   */
  async entries(from: number, to: number): Promise<Buffer[]> {
    try {
      return await this.entriesAt(from, to, sizeOf(await this.checkpoint()));
    } catch (err) {
      if (!(err instanceof ServerError && err.message.includes(' with 404'))) throw err;
      return this.entriesAt(from, to, sizeOf(await this.checkpoint()));
    }
  }

  private async entriesAt(from: number, to: number, published: number): Promise<Buffer[]> {
    if (to > published) throw new ServerError('INVALID_INPUT', `the log has ${published} entries, not ${to}`);
    const out: Buffer[] = [];
    for (let tile = Math.floor(from / TILE_WIDTH); tile * TILE_WIDTH < to; tile++) {
      const width = Math.min(TILE_WIDTH, published - tile * TILE_WIDTH);
      const bundle = parseBundle(await this.request(`/${entryBundlePath(tile, width)}`, MAX_BUNDLE_BYTES), width);
      for (let i = 0; i < bundle.length; i++) {
        const index = tile * TILE_WIDTH + i;
        if (index >= from && index < to) out.push(bundle[i]!);
      }
    }
    return out;
  }

  private async proof(path: string): Promise<Buffer[]> {
    const parsed = parseJson(await this.request(path, MAX_PROOF_BYTES)) as { hashes?: unknown };
    if (!Array.isArray(parsed.hashes) || !parsed.hashes.every((h) => typeof h === 'string'))
      throw new ServerError('UNAVAILABLE', 'the transparency log answered a proof with something else');
    return parsed.hashes.map((h) => Buffer.from(h, 'base64'));
  }

  private async request(path: string, limit: number, init: RequestInit = {}): Promise<Buffer> {
    let res: Response;
    try {
      res = await fetch(`${this.config.url}${path}`, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) });
    } catch (err) {
      throw new ServerError('UNAVAILABLE', `the transparency log at ${this.config.url} cannot be reached`, {
        cause: err,
      });
    }
    const body = await readCapped(res, limit);
    if (!res.ok)
      throw new ServerError(
        res.status === 400 || res.status === 413 ? 'INVALID_INPUT' : 'UNAVAILABLE',
        `the transparency log answered ${path.split('?')[0]} with ${res.status}: ${body.toString('utf8').slice(0, 200)}`,
      );
    return body;
  }
}

/** The log's JSON answer; anything else is the log failing, not the caller's mistake. */
export function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch (err) {
    throw new ServerError('UNAVAILABLE', 'the transparency log answered with something other than JSON', {
      cause: err,
    });
  }
}

/** A checkpoint's size, unverified: whoever reads the log verifies the checkpoint; this only sizes requests. */
export function sizeOf(checkpoint: string): number {
  const size = Number(checkpoint.split('\n')[1]);
  if (!Number.isSafeInteger(size) || size < 0)
    throw new ServerError('UNAVAILABLE', 'the transparency log sent no checkpoint');
  return size;
}

/** C2SP tlog-tiles: tile index 1234067 is x001/x234/067; a partial tile ends in .p/<width>. */
export function entryBundlePath(tile: number, width: number): string {
  const groups: string[] = [];
  let n = tile;
  do {
    groups.unshift(String(n % 1000).padStart(3, '0'));
    n = Math.floor(n / 1000);
  } while (n > 0);
  const path = groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join('/');
  return `tile/entries/${path}${width < TILE_WIDTH ? `.p/${width}` : ''}`;
}

/** An entry bundle: each entry its 2-byte big-endian length, then its bytes. */
export function parseBundle(bytes: Buffer, expected: number): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (at + 2 > bytes.length) break;
    const length = bytes.readUInt16BE(at);
    if (at + 2 + length > bytes.length) break;
    out.push(bytes.subarray(at + 2, at + 2 + length));
    at += 2 + length;
  }
  if (at !== bytes.length || out.length < expected)
    throw new ServerError('UNAVAILABLE', `an entry bundle of the transparency log is malformed`);
  return out.slice(0, expected);
}

async function readCapped(res: Response, limit: number): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > limit) {
    await res.body?.cancel();
    throw new ServerError('UNAVAILABLE', `the transparency log sent ${declared} bytes, more than ${limit}`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body ?? []) {
    total += (chunk as Uint8Array).length;
    if (total > limit) throw new ServerError('UNAVAILABLE', `the transparency log sent more than ${limit} bytes`);
    chunks.push(Buffer.from(chunk as Uint8Array));
  }
  return Buffer.concat(chunks);
}

/** The appender signed metadata goes through, when a log is configured. */
export function metadataLog(config: Pick<Config, 'transparency'>): LogAppender | undefined {
  return config.transparency ? new TransparencyLog(config.transparency) : undefined;
}
