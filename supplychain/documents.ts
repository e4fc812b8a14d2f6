import { createHash } from 'node:crypto';

import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import Ajv from 'ajv';

import { InputError } from '../common/errors';
import type { DocumentFormat, DocumentKind } from '../common/releaseDocuments';
import { unstorableIn } from '../common/validation';

/** One component an SBOM lists: what `ota fleet components` searches. */
interface Component {
  name: string;
  version: string;
  purl?: string;
}

/** A document checked and read: its digest, format, and what the release's rules need of it. */
export interface ParsedDocument {
  sha256: string;
  length: number;
  format: DocumentFormat;
  components: Component[];
  /** Provenance: the sha256 digests of the artifacts it is about (the release's must be one). */
  subjects: string[];
}

/** More is not an SBOM of one device image; it is an attempt to fill the fleet store. */
const MAX_COMPONENTS = 100_000;
const CYCLONEDX_VERSIONS: Record<string, Spec.Version> = {
  '1.4': Spec.Version.v1dot4,
  '1.5': Spec.Version.v1dot5,
  '1.6': Spec.Version.v1dot6,
  '1.7': Spec.Version.v1dot7,
};
const IN_TOTO_STATEMENTS = ['https://in-toto.io/Statement/v1', 'https://in-toto.io/Statement/v0.1'];

const ajv = new Ajv({ allErrors: false, strict: false });
const text = (max: number) => ({ type: 'string', minLength: 1, maxLength: max });
/**
 * SPDX 2.x JSON: the fields this server reads, so that what it stores has the shape it reads.
 * Whether the document is valid SPDX is for SPDX's own validator (Python spdx-tools, which the
 * API runs after this: infra/spdxTools.ts), as CycloneDX's is for CycloneDX's own library.
 */
const checkSpdx = ajv.compile({
  type: 'object',
  required: ['spdxVersion', 'SPDXID', 'name', 'dataLicense', 'documentNamespace', 'creationInfo'],
  properties: {
    spdxVersion: { type: 'string', pattern: '^SPDX-2\\.[0-9]$' },
    SPDXID: { const: 'SPDXRef-DOCUMENT' },
    name: text(1000),
    dataLicense: { const: 'CC0-1.0' },
    documentNamespace: text(2000),
    creationInfo: {
      type: 'object',
      required: ['created', 'creators'],
      properties: { created: text(64), creators: { type: 'array', minItems: 1, items: text(1000) } },
    },
    packages: {
      type: 'array',
      maxItems: MAX_COMPONENTS,
      items: {
        type: 'object',
        required: ['SPDXID', 'name', 'downloadLocation'],
        properties: {
          SPDXID: { type: 'string', pattern: '^SPDXRef-[A-Za-z0-9.-]+$' },
          name: text(1000),
          versionInfo: text(256),
          downloadLocation: text(4000),
          externalRefs: {
            type: 'array',
            items: {
              type: 'object',
              required: ['referenceCategory', 'referenceType', 'referenceLocator'],
              properties: { referenceType: text(128), referenceLocator: text(4000) },
            },
          },
        },
      },
    },
  },
});
/** An in-toto statement (v1 or v0.1): what it is about, and what kind of claim it makes. */
const checkStatement = ajv.compile({
  type: 'object',
  required: ['_type', 'subject', 'predicateType'],
  properties: {
    _type: { enum: IN_TOTO_STATEMENTS },
    subject: {
      type: 'array',
      minItems: 1,
      maxItems: 1000,
      items: {
        type: 'object',
        required: ['digest'],
        properties: { name: { type: 'string', maxLength: 4000 }, digest: { type: 'object', minProperties: 1 } },
      },
    },
    predicateType: text(2000),
    predicate: { type: 'object' },
  },
});

function refused(kind: DocumentKind, why: string): InputError {
  return new InputError(
    `the ${kind} is not ${kind === 'sbom' ? 'a CycloneDX or SPDX JSON SBOM' : 'an in-toto statement'}: ${why}`,
  );
}

/**
 * Checks a document as it was uploaded (its exact bytes are what gets signed) and reads what
 * the release needs from it. Anything malformed is refused with INVALID_INPUT and why.
 */
export async function parseDocument(kind: DocumentKind, bytes: Buffer): Promise<ParsedDocument> {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw refused(kind, `not JSON (${(err as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw refused(kind, 'not a JSON object');
  const base = { sha256: createHash('sha256').update(bytes).digest('hex'), length: bytes.length };
  const o = doc as Record<string, unknown>;
  if (kind === 'provenance') return { ...base, format: 'in-toto', components: [], subjects: statementSubjects(o) };
  if (o['bomFormat'] === 'CycloneDX')
    return { ...base, format: 'cyclonedx', components: await cyclonedx(o, bytes), subjects: [] };
  if (typeof o['spdxVersion'] === 'string') return { ...base, format: 'spdx', components: spdx(o), subjects: [] };
  throw refused(kind, 'neither bomFormat "CycloneDX" nor an spdxVersion');
}

async function cyclonedx(o: Record<string, unknown>, bytes: Buffer): Promise<Component[]> {
  const version = CYCLONEDX_VERSIONS[String(o['specVersion'])];
  if (!version)
    throw refused('sbom', `CycloneDX specVersion ${String(o['specVersion']).slice(0, 20)} (1.4 to 1.7 are read)`);
  const problems: unknown = await new Validation.JsonValidator(version).validate(bytes.toString('utf8'));
  if (problems)
    throw refused('sbom', `CycloneDX ${String(o['specVersion'])}: ${JSON.stringify(problems).slice(0, 500)}`);
  const out: Component[] = [];
  const walk = (list: unknown): void => {
    for (const c of Array.isArray(list) ? (list as Array<Record<string, unknown>>) : []) {
      if (out.length >= MAX_COMPONENTS) throw refused('sbom', `more than ${MAX_COMPONENTS} components`);
      out.push(component(c['name'], c['version'], c['purl']));
      walk(c['components']);
    }
  };
  walk(o['components']);
  return out;
}

function spdx(o: Record<string, unknown>): Component[] {
  if (!checkSpdx(o)) {
    const e = checkSpdx.errors?.[0];
    throw refused('sbom', `SPDX: ${e?.instancePath || 'document'} ${e?.message ?? 'is invalid'}`);
  }
  const packages = (o['packages'] ?? []) as Array<Record<string, unknown>>;
  return packages.map((p) => {
    const refs = (p['externalRefs'] ?? []) as Array<Record<string, unknown>>;
    const purl = refs.find((r) => r['referenceType'] === 'purl')?.['referenceLocator'];
    return component(p['name'], p['versionInfo'], purl);
  });
}

function component(name: unknown, version: unknown, purl: unknown): Component {
  for (const v of [name, version, purl]) {
    const bad = typeof v === 'string' ? unstorableIn(v) : undefined;
    if (bad) throw refused('sbom', `a component holds ${bad}`);
  }
  return {
    name: typeof name === 'string' ? name.slice(0, 256) : '',
    version: typeof version === 'string' ? version.slice(0, 128) : '',
    ...(typeof purl === 'string' ? { purl: purl.slice(0, 1000) } : {}),
  };
}

/** The statement's subjects' sha256 digests, from the statement or a DSSE envelope holding one. */
function statementSubjects(o: Record<string, unknown>): string[] {
  let statement: unknown = o;
  if (o['payloadType'] === 'application/vnd.in-toto+json' && typeof o['payload'] === 'string') {
    try {
      statement = JSON.parse(Buffer.from(o['payload'], 'base64').toString('utf8'));
    } catch {
      throw refused('provenance', 'its DSSE payload is not JSON');
    }
  }
  if (!checkStatement(statement)) {
    const e = checkStatement.errors?.[0];
    throw refused('provenance', `${e?.instancePath || 'statement'} ${e?.message ?? 'is invalid'}`);
  }
  const subjects = (statement as { subject: Array<{ digest: Record<string, unknown> }> }).subject;
  const digests = subjects.map((s) => s.digest['sha256']).filter((d): d is string => typeof d === 'string');
  if (!digests.every((d) => /^[0-9a-f]{64}$/.test(d)))
    throw refused('provenance', 'a subject sha256 is not 64 hex digits');
  if (digests.length === 0) throw refused('provenance', 'no subject has a sha256 digest');
  return digests;
}
