import { createHash, X509Certificate } from 'node:crypto';

import { openReceipt, type ReceiptClaims, REPOSITORIES, type RepositoryName } from '@enigm-ota/client-sdk';
import {
  HASH_BYTES,
  leafHash,
  type LogPolicy,
  metadataLeaf,
  openCheckpoint,
  verifyInclusion,
} from '@enigm-ota/client-sdk/transparency';
import { Metadata, MetadataKind, type Root, type Targets } from '@tufjs/models';

import { readTar } from '../common/tar';
import { parseRoot, verifyRootStep } from '../trust/rootChain';
import { parseTufJson } from '../trust/tufJson';
import { EVIDENCE_FORMAT, EVIDENCE_LIMITS, type EvidenceManifest } from './evidenceFormat';

/** What the auditor trusts, from their own copies, never from the file: the log's keys, the fleet CA. */
export interface EvidencePins {
  policy: LogPolicy;
  fleetCa: X509Certificate;
  /** The first root of each repository, from the key ceremony: the chain must start from it. */
  roots: Record<RepositoryName, Buffer>;
}

type EvidenceProblem =
  | 'EVIDENCE_MALFORMED'
  | 'EVIDENCE_NOT_LOGGED'
  | 'EVIDENCE_PROOF_INVALID'
  | 'EVIDENCE_UNLISTED'
  | 'EVIDENCE_METADATA_INVALID'
  | 'EVIDENCE_TARGET_NOT_SIGNED'
  | 'EVIDENCE_RECEIPT_INVALID'
  | 'EVIDENCE_EVENT_FOREIGN';

interface EvidenceFinding {
  code: EvidenceProblem;
  path: string;
  detail: string;
}

/** A gate's view at one decision: per device its latest verified health receipt up to then. */
interface Counted {
  devices: number;
  healthy: number;
  reverted: number;
}

export interface EvidenceDecision {
  at: string;
  type: string;
  detail: Record<string, unknown>;
  /** For steps, stable and gate decisions: the verified receipts the gate had by then. */
  counted?: Counted;
}

export interface EvidenceAccount {
  ok: boolean;
  release: EvidenceManifest['release'];
  log: { origin: string; size: number; witnessedBy: string[] };
  metadata: Array<{ repository: RepositoryName; roots: number; targets: string[] }>;
  decisions: EvidenceDecision[];
  receipts: { total: number; verified: number };
  findings: EvidenceFinding[];
}

const COUNTED_EVENTS = new Set([
  'release.step-published',
  'release.stable',
  'release.gate-paused',
  'release.gate-rolled-back',
]);

/**
 * ADR 0080: an evidence file checked with nothing but the auditor's pins. The checkpoint must
 * verify (else it throws, with the SDK's LOG_* code); then every file must be the one its leaf
 * was made from, included in that checkpoint; metadata must chain from the first root and sign
 * the release's target in both repositories; every receipt must be signed by a device
 * certificate the fleet CA issued. Anything short of that is a finding; ok only without any.
 */
export function checkEvidence(archive: Buffer, pins: EvidencePins): EvidenceAccount {
  const files = readTar(archive, EVIDENCE_LIMITS);
  const manifest = manifestOf(files.get('manifest.json'));
  const cp = openCheckpoint(files.get('checkpoint')?.toString('utf8') ?? '', pins.policy);
  const findings: EvidenceFinding[] = [];
  const listed = new Set<string>();
  for (const e of manifest.entries) {
    listed.add(e.path);
    const bytes = files.get(e.path);
    if (!bytes) {
      findings.push({ code: 'EVIDENCE_MALFORMED', path: e.path, detail: 'listed, not in the file' });
      continue;
    }
    if (e.index === null || e.proof === null) {
      findings.push({ code: 'EVIDENCE_NOT_LOGGED', path: e.path, detail: 'not in the log at this checkpoint' });
      continue;
    }
    const leaf = e.path.startsWith('metadata/') ? metadataLeaf(e.path.slice('metadata/'.length), bytes) : bytes;
    const proof = Buffer.from(e.proof, 'base64');
    const hashes = Array.from({ length: proof.length / HASH_BYTES }, (_, i) =>
      proof.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES),
    );
    if (
      proof.length % HASH_BYTES !== 0 ||
      !verifyInclusion({ index: e.index, size: cp.size, hash: leafHash(leaf) }, hashes, cp.root)
    )
      findings.push({
        code: 'EVIDENCE_PROOF_INVALID',
        path: e.path,
        detail: `not the entry at ${e.index} of ${cp.size}`,
      });
  }
  for (const name of files.keys()) {
    if (name !== 'manifest.json' && name !== 'checkpoint' && !name.startsWith('certificates/') && !listed.has(name))
      findings.push({ code: 'EVIDENCE_UNLISTED', path: name, detail: 'in the file, not in the manifest' });
  }
  const context = { files, manifest, pins, findings };
  const metadata = REPOSITORIES.map((repo) => checkMetadata(repo, context));
  const receipts = checkReceipts(context);
  const decisions = checkEvents(files, manifest, findings).map((d) =>
    COUNTED_EVENTS.has(d.type) ? { ...d, counted: countAt(receipts.verified, d.at) } : d,
  );
  return {
    ok: findings.length === 0,
    release: manifest.release,
    log: { origin: cp.origin, size: cp.size, witnessedBy: cp.witnessedBy },
    metadata,
    decisions,
    receipts: { total: receipts.total, verified: receipts.verified.length },
    findings,
  };
}

/** What every check reads, and where it puts what it finds. */
interface Context {
  files: Map<string, Buffer>;
  manifest: EvidenceManifest;
  pins: EvidencePins;
  findings: EvidenceFinding[];
}

function manifestOf(bytes: Buffer | undefined): EvidenceManifest {
  let m: Partial<EvidenceManifest> | null = null;
  try {
    m = JSON.parse(bytes?.toString('utf8') ?? '') as Partial<EvidenceManifest> | null;
  } catch {
    // reported below
  }
  const t = m?.release?.target;
  const wellFormed =
    m?.format === EVIDENCE_FORMAT &&
    typeof m.release?.channel === 'string' &&
    typeof m.release.version === 'string' &&
    typeof t?.name === 'string' &&
    typeof t.sha256 === 'string' &&
    Number.isSafeInteger(t.length) &&
    Array.isArray(m.entries) &&
    m.entries.every(
      (e) =>
        typeof e?.path === 'string' &&
        (e.index === null || Number.isSafeInteger(e.index)) &&
        (e.proof === null || (typeof e.proof === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(e.proof))),
    );
  if (!wellFormed) throw new EvidenceFileError(`manifest.json is not an ${EVIDENCE_FORMAT} manifest`);
  return m as EvidenceManifest;
}

/** The file as a whole is not evidence (no manifest, another format): nothing in it can be checked. */
export class EvidenceFileError extends Error {}

/** One repository: its roots chained from the first, and each targets file signed under one of them and listing the target. */
function checkMetadata(
  repo: RepositoryName,
  { files, manifest, pins, findings }: Context,
): { repository: RepositoryName; roots: number; targets: string[] } {
  const prefix = `metadata/${repo}/`;
  const roots: Array<Metadata<Root>> = [];
  const fail = (path: string, detail: string) => findings.push({ code: 'EVIDENCE_METADATA_INVALID', path, detail });
  for (let v = 1; files.has(`${prefix}${v}.root.json`); v++) {
    const path = `${prefix}${v}.root.json`;
    const bytes = files.get(path)!;
    try {
      const root = parseRoot(bytes);
      if (v === 1) {
        const pinned = parseRoot(pins.roots[repo]);
        if (root.signed.version !== 1 || !sameRoot(pinned, root)) throw new Error('not the pinned first root');
      } else verifyRootStep(roots[v - 2]!, root);
      roots.push(root);
    } catch (err) {
      fail(path, (err as Error).message);
      break;
    }
  }
  if (roots.length === 0) fail(`${prefix}1.root.json`, 'no root chain for this repository');
  const targets = manifest.entries
    .map((e) => e.path)
    .filter((p) => p.startsWith(prefix) && p.endsWith('.targets.json'));
  const { name, sha256, length } = manifest.release.target;
  let signed = 0;
  for (const path of targets) {
    try {
      const md = Metadata.fromJSON(MetadataKind.Targets, parseTufJson(files.get(path) ?? ''));
      if (!roots.some((r) => verifies(r, md))) throw new Error('signed by no root of the chain');
      const entry = md.signed.targets[name];
      if (entry?.length !== length || entry.hashes['sha256'] !== sha256) {
        findings.push({
          code: 'EVIDENCE_TARGET_NOT_SIGNED',
          path,
          detail: `does not sign ${name} with its sha256 and length`,
        });
      } else signed++;
    } catch (err) {
      fail(path, (err as Error).message);
    }
  }
  if (signed === 0 && roots.length > 0)
    findings.push({
      code: 'EVIDENCE_TARGET_NOT_SIGNED',
      path: prefix,
      detail: `no targets file of ${repo} signs ${name}`,
    });
  return { repository: repo, roots: roots.length, targets };
}

/** The same keys, roles and version, signed by the pinned root's own keys (formatting may differ). */
function sameRoot(pinned: Metadata<Root>, found: Metadata<Root>): boolean {
  try {
    pinned.verifyDelegate('root', found);
  } catch {
    return false;
  }
  return JSON.stringify(pinned.signed.toJSON()) === JSON.stringify(found.signed.toJSON());
}

function verifies(root: Metadata<Root>, md: Metadata<Targets>): boolean {
  try {
    root.verifyDelegate('targets', md);
    return true;
  } catch {
    return false;
  }
}

interface VerifiedReceipt {
  at: string;
  claims: ReceiptClaims;
}

function checkReceipts({ files, manifest, pins, findings }: Context): { total: number; verified: VerifiedReceipt[] } {
  const verified: VerifiedReceipt[] = [];
  const paths = manifest.entries.map((e) => e.path).filter((p) => p.startsWith('receipts/'));
  for (const path of paths) {
    try {
      const leaf = JSON.parse(files.get(path)?.toString('utf8') ?? '') as Record<string, unknown>;
      const { at, device, body, signature, certificate } = leaf;
      if (leaf['kind'] !== 'receipt' || typeof at !== 'string' || typeof device !== 'string')
        throw new Error('not a receipt leaf');
      const der = files.get(`certificates/${String(certificate)}.der`);
      if (!der || createHash('sha256').update(der).digest('hex') !== certificate)
        throw new Error('its certificate is not in the file');
      const cert = new X509Certificate(der);
      if (!cert.checkIssued(pins.fleetCa) || !cert.verify(pins.fleetCa.publicKey))
        throw new Error('its certificate was not issued by the fleet CA');
      if (!cert.subject.split('\n').includes(`CN=${device}`))
        throw new Error(`its certificate does not name ${device}`);
      const claims = openReceipt({ body, signature }, cert.publicKey);
      if (claims.deviceId !== device) throw new Error('it was signed for another device');
      const target = manifest.release.target;
      if (claims.targetName !== target.name || (claims.sha256 !== undefined && claims.sha256 !== target.sha256))
        throw new Error('it is about another target');
      verified.push({ at, claims });
    } catch (err) {
      findings.push({ code: 'EVIDENCE_RECEIPT_INVALID', path, detail: (err as Error).message });
    }
  }
  return { total: paths.length, verified: verified.sort((a, b) => a.at.localeCompare(b.at)) };
}

function checkEvents(
  files: Map<string, Buffer>,
  manifest: EvidenceManifest,
  findings: EvidenceFinding[],
): EvidenceDecision[] {
  const subject = `releases/${manifest.release.channel}/${manifest.release.version}`;
  const decisions: EvidenceDecision[] = [];
  for (const path of manifest.entries.map((e) => e.path).filter((p) => p.startsWith('events/'))) {
    try {
      const leaf = JSON.parse(files.get(path)?.toString('utf8') ?? '') as Record<string, unknown>;
      if (leaf['kind'] !== 'event' || leaf['subject'] !== subject) throw new Error(`not an event of ${subject}`);
      const data = JSON.parse(String(leaf['data'])) as Record<string, unknown>;
      decisions.push({ at: String(leaf['at']), type: String(leaf['type']), detail: data });
    } catch (err) {
      findings.push({ code: 'EVIDENCE_EVENT_FOREIGN', path, detail: (err as Error).message });
    }
  }
  return decisions.sort((a, b) => a.at.localeCompare(b.at));
}

/** Per device, its latest verified health receipt logged up to `at` (times are the log's, UTC ISO). */
function countAt(receipts: readonly VerifiedReceipt[], at: string): Counted {
  const latest = new Map<string, ReceiptClaims>();
  for (const r of receipts) if (r.at <= at && r.claims.health) latest.set(r.claims.deviceId, r.claims);
  const health = [...latest.values()].map((c) => c.health);
  return {
    devices: latest.size,
    healthy: health.filter((h) => h === 'healthy').length,
    reverted: health.filter((h) => h === 'reverted').length,
  };
}
