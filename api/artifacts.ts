import { pipeline } from 'node:stream/promises';

import type { Request, RequestHandler, Response } from 'express';

import { ServerError } from '../common/errors';
import { matches } from '../common/validation';
import { fleetFactsOf } from '../fleet/fleetDeviceFacts';
import type { OfferIndex } from '../fleet/offers';
import type { Config } from '../infra/config';
import { artifactKey, type Storage } from '../infra/storage';
import { deviceOf } from './auth';

/** Parses a single `bytes=` range; multi-range requests are answered with the whole body. */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return 'unsatisfiable';
  return { start, end };
}

export interface ArtifactDeps {
  storage: Storage;
  offers: OfferIndex;
  /** How bytes reach a device: a presigned storage URL (redirect) or through the API (stream). */
  serving: Config['artifacts'];
}

/**
 * GET/HEAD /v1/artifacts/:sha256 for a device: first the access decision (only artifacts of
 * releases in the signed rollout; a protected release's only to an eligible device), then
 * the bytes. `redirect` (the default) answers a GET with a short-lived presigned URL on
 * object storage, so the bytes never pass through the API; the device asks here again for
 * every attempt, so an expired URL is never reused. `stream` sends them from here. Storage
 * is untrusted either way: the device checks length and hashes against signed metadata.
 */
export function artifactHandler(deps: ArtifactDeps): RequestHandler {
  return (req, res) => serveArtifact(deps, req, res);
}

async function serveArtifact(deps: ArtifactDeps, req: Request, res: Response): Promise<void> {
  const device = deviceOf(res);
  const sha256 = String(req.params['sha256']);
  if (!matches('sha256', sha256))
    throw new ServerError('INVALID_INPUT', 'artifact address must be a sha256 hex digest');
  const access = await deps.offers.artifactAccess(fleetFactsOf(device), sha256);
  if (!access.allowed) throw new ServerError(access.code, access.reason);
  // A presigned URL is for GET only (the method is signed); HEAD is answered here, from the object's size.
  if (deps.serving.mode === 'redirect' && req.method === 'GET') {
    const url = await deps.storage.presignedGet('artifacts', artifactKey(sha256), {
      seconds: deps.serving.urlSeconds,
      endpoint: deps.serving.publicUrl,
    });
    res.setHeader('Cache-Control', 'no-store');
    res.redirect(302, url);
    return;
  }
  await streamArtifact(req, res, { storage: deps.storage, sha256 });
}

/** Streams an artifact by content address, honouring Range so devices can resume. */
async function streamArtifact(
  req: Request,
  res: Response,
  { storage, sha256 }: { storage: Storage; sha256: string },
): Promise<void> {
  const key = artifactKey(sha256);
  const info = await storage.stat('artifacts', key);
  if (!info) throw new ServerError('NOT_FOUND', `no artifact ${sha256}`);
  const range = parseRange(req.header('range'), info.size);
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('ETag', `"${sha256}"`);
  if (range === 'unsatisfiable') {
    res.setHeader('Content-Range', `bytes */${info.size}`);
    // Through the error handler: a JSON body typed as JSON, with its request id (it was sent as octet-stream).
    throw new ServerError('RANGE_NOT_SATISFIABLE', `range outside 0..${info.size - 1}`);
  }
  res.setHeader('Content-Type', 'application/octet-stream');
  if (range) {
    res.status(206);
    res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${info.size}`);
    res.setHeader('Content-Length', String(range.end - range.start + 1));
  } else {
    res.setHeader('Content-Length', String(info.size));
  }
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const stream = await storage.getStream('artifacts', key, range);
  // pipeline closes the storage stream too when the device hangs up mid-download.
  await pipeline(stream, res).catch(() => undefined);
}
