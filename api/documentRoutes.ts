import { type RequestHandler, Router } from 'express';

import { InputError, ServerError } from '../common/errors';
import { DOCUMENT_KINDS, documentKey, type DocumentKind, MAX_DOCUMENT_BYTES } from '../common/releaseDocuments';
import type { DocumentStore } from '../infra/documentStore';
import type { SpdxTools } from '../infra/spdxTools';
import type { Storage } from '../infra/storage';
import { parseDocument } from '../supplychain/documents';
import { compareVersions } from '../supplychain/versions';
import { operatorOf } from './auth';
import type { Permission } from './permissions';
import { queryFilter, queryLimit, queryText } from './query';
import { rawJsonBody } from './untrusted';

export interface DocumentRouteDeps {
  documents: DocumentStore;
  storage: Storage;
  /** SPDX's own validator; our parse reads the fields this server uses. */
  spdx: Pick<SpdxTools, 'validate'>;
  guard: (permission: Permission) => RequestHandler;
}

const SHA256 = /^[0-9a-f]{64}$/;

/**
 * Release documents: an SBOM or provenance is uploaded and checked before the release that
 * names it is created (its digest goes into the signed target); it can be read back by its
 * digest; SBOMs answer which releases, and how many devices, run a component.
 */
export function documentRoutes(deps: DocumentRouteDeps): Router {
  const r = Router();
  const { guard } = deps;
  r.post('/v1/admin/documents', guard('release.create'), rawJsonBody(MAX_DOCUMENT_BYTES), async (req, res) => {
    const kind = queryText(req, 'kind') as DocumentKind;
    if (!DOCUMENT_KINDS.includes(kind)) throw new InputError(`?kind= must be ${DOCUMENT_KINDS.join(' or ')}`);
    if (!Buffer.isBuffer(req.body) || req.body.length === 0) throw new InputError(`an empty ${kind}`);
    const parsed = await parseDocument(kind, req.body);
    if (parsed.format === 'spdx') await deps.spdx.validate(req.body);
    res.locals['audit'] = { action: 'document.upload', subject: parsed.sha256, detail: `${kind} ${parsed.format}` };
    await deps.storage.ensureBuckets();
    // Content-addressed: the same document uploaded again is the same object.
    await deps.storage.putBytesIfAbsent('artifacts', documentKey(parsed.sha256), req.body);
    await deps.documents.save({ ...parsed, kind }, operatorOf(res).name);
    const { sha256, length, format, components, subjects } = parsed;
    res.status(201).json({ kind, sha256, length, format, components: components.length, subjects });
  });
  r.get('/v1/admin/documents/:sha256', guard('read'), async (req, res) => {
    const sha256 = String(req.params['sha256']);
    const doc = SHA256.test(sha256) ? await deps.documents.get(sha256) : undefined;
    if (!doc) throw new ServerError('NOT_FOUND', `no document ${sha256.slice(0, 64)}`);
    const bytes = await deps.storage.getBytes('artifacts', documentKey(sha256), MAX_DOCUMENT_BYTES);
    if (!bytes) throw new ServerError('NOT_FOUND', `document ${sha256} is not in storage`);
    res.setHeader('content-type', 'application/json');
    res.setHeader('content-disposition', `attachment; filename="${doc.kind}-${sha256.slice(0, 12)}.json"`);
    res.send(bytes);
  });
  r.get('/v1/fleet/components', guard('read'), async (req, res) => {
    const name = queryFilter(req, 'name');
    if (!name) throw new InputError('give ?name=COMPONENT');
    const below = queryText(req, 'versionBelow');
    const matches = await deps.documents.components(name, queryLimit(req, 10_000));
    res.json(below ? matches.filter((m) => compareVersions(m.component.version, below) < 0) : matches);
  });
  return r;
}
