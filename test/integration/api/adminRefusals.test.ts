import { readFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';

import { expect } from 'chai';
import type { RequestHandler } from 'express';
import { Agent, fetch } from 'undici';

import { type AdminRouteDeps, adminRoutes } from '../../../api/adminRoutes';
import { httpStatusOf } from '../../../api/errorResponses';
import { type InsightRouteDeps, insightRoutes } from '../../../api/insightRoutes';
import { metadataRoutes } from '../../../api/metadataRoutes';
import { GRANTS, type Permission } from '../../../api/permissions';
import { type ReleaseRouteDeps, releaseRoutes } from '../../../api/releaseRoutes';
import { type SessionRouteDeps, sessionRoutes } from '../../../api/sessionRoutes';
import { OPERATOR_ROLES, type OperatorRole, OPS_ACTIONS } from '../../../common/adminApi';
import type { ServerErrorCode } from '../../../common/errors';
import { MAX_ARTIFACT_BYTES } from '../../../common/validation';
import { releaseStatus, waitForStatus } from '../../../control/releases';
import { stackToken, TEST_PROFILE } from '../../../scripts/lib/stack';
import { waitFor } from '../../wait';
import { deviceFetch, operatorToken, releaseAwaitingApproval, temporalClient, testConfig } from '../helpers';

/**
 * Every refusal the admin API gives, by HTTP status and error code: a client (or a proxy,
 * or an alert on 5xx) sees the status, so it must be the one the code stands for. The
 * statuses are written out here; each is also checked against api/errorResponses.ts's table.
 * Names used only by this file: channel 'refusals' (and 'refusals-none', which never
 * exists), operators 'rf-*', a release on 'strict' (the fixture channel with owners and
 * two approvals) that is aborted at the end.
 */

type Who = 'none' | 'admin' | 'ops' | OperatorRole | 'creator' | 'approver' | 'bob' | 'stranger' | 'revoked';

interface Answer {
  status: number;
  code: string | undefined;
  body: { error?: { code?: string; message?: string; requestId?: string } } & Record<string, unknown>;
}

interface Call {
  method?: 'GET' | 'POST' | 'DELETE';
  path: string;
  as?: Who;
  /** The whole Authorization header, instead of the bearer token of `as`. */
  authorization?: string;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as it is (with `headers` saying what it is). */
  raw?: string | Buffer;
  headers?: Record<string, string>;
}

/** One refusal: the request and the status and code it must get. */
interface Refusal extends Call {
  what: string;
  status: number;
  code: ServerErrorCode;
  /** The status is body-parser's own, not the table's (see the 415 row). */
  notFromTable?: true;
}

const NONE = 'refusals-none';
const TOKENS: Partial<Record<Who, string>> = {};
let agent: Agent;
let caPem: string;
const url = () => testConfig().api.url;

/** The raw answer: status and JSON body (the AdminApiClient client would hide the status in an exception). */
async function call(c: Call): Promise<Answer> {
  const headers: Record<string, string> = { ...c.headers };
  const who = c.as ?? 'ops';
  if (c.authorization !== undefined) headers['authorization'] = c.authorization;
  else if (who !== 'none') headers['authorization'] = `Bearer ${TOKENS[who]!}`;
  let body: string | Buffer | undefined = c.raw;
  if (c.body !== undefined) {
    body = JSON.stringify(c.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(`${url()}${c.path}`, {
    method: c.method ?? (body === undefined ? 'GET' : 'POST'),
    headers,
    body,
    dispatcher: agent,
  });
  const text = await res.text();
  let json: Answer['body'];
  try {
    json = JSON.parse(text) as Answer['body'];
  } catch {
    json = { text };
  }
  return { status: res.status, code: json.error?.code, body: json };
}

/**
 * A request that only declares its body (Content-Length or chunked) and sends none of it:
 * the answer must come before the body, as it does for an upload refused by its size.
 */
function declaredOnly(path: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      new URL(`${url()}${path}`),
      {
        method: 'POST',
        ca: caPem,
        agent: false,
        headers: { authorization: `Bearer ${TOKENS.ops!}`, 'content-type': 'application/octet-stream', ...headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          req.destroy();
          try {
            const body = JSON.parse(text) as Answer['body'];
            resolve({ status: res.statusCode ?? 0, code: body.error?.code, body });
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        });
      },
    );
    req.on('error', reject);
    req.flushHeaders();
  });
}

function expectRefused(a: Answer, r: Pick<Refusal, 'what' | 'status' | 'code' | 'notFromTable'>): void {
  const seen = `${r.what}: ${JSON.stringify(a.body)}`;
  expect({ status: a.status, code: a.code }, seen).to.deep.equal({ status: r.status, code: r.code });
  if (!r.notFromTable)
    expect(httpStatusOf(r.code), `${r.what}: api/errorResponses.ts STATUS[${r.code}]`).to.equal(r.status);
  expect(a.body.error?.message, seen).to.be.a('string').that.does.not.equal('');
  expect(a.body.error?.requestId, seen).to.be.a('string').that.does.not.equal('');
}

async function expectAll(refusals: readonly Refusal[]): Promise<void> {
  for (const r of refusals) expectRefused(await call(r), r);
}

/** Every admin route (express pattern), the permission its guard asks for, and requests that reach it. */
const ROUTES: ReadonlyArray<{
  method: 'GET' | 'POST' | 'DELETE';
  pattern: string;
  permission: Permission;
  paths: string[];
}> = [
  { method: 'GET', pattern: '/metrics', permission: 'read', paths: ['/metrics'] },
  { method: 'GET', pattern: '/v1/admin/whoami', permission: 'read', paths: ['/v1/admin/whoami'] },
  { method: 'GET', pattern: '/v1/admin/operators', permission: 'operator.manage', paths: ['/v1/admin/operators'] },
  { method: 'POST', pattern: '/v1/admin/operators', permission: 'operator.manage', paths: ['/v1/admin/operators'] },
  {
    method: 'POST',
    pattern: '/v1/admin/operators/:name/revoke',
    permission: 'operator.manage',
    paths: ['/v1/admin/operators/rf-nobody/revoke'],
  },
  { method: 'GET', pattern: '/v1/admin/audit', permission: 'read', paths: ['/v1/admin/audit?limit=1'] },
  {
    method: 'POST',
    pattern: '/v1/admin/devices/tokens',
    permission: 'device.manage',
    paths: ['/v1/admin/devices/tokens'],
  },
  { method: 'GET', pattern: '/v1/admin/devices', permission: 'read', paths: ['/v1/admin/devices?prefix=rf-&limit=1'] },
  { method: 'GET', pattern: '/v1/admin/devices/:id', permission: 'read', paths: ['/v1/admin/devices/rf-nodevice'] },
  {
    method: 'GET',
    pattern: '/v1/admin/devices/:id/explain',
    permission: 'read',
    paths: ['/v1/admin/devices/rf-nodevice/explain?version=1.0.0'],
  },
  {
    method: 'POST',
    pattern: '/v1/admin/devices/:id/labels',
    permission: 'device.manage',
    paths: ['/v1/admin/devices/rf-nodevice/labels'],
  },
  {
    method: 'POST',
    pattern: '/v1/admin/devices/:id/revoke',
    permission: 'device.manage',
    paths: ['/v1/admin/devices/rf-nodevice/revoke'],
  },
  {
    method: 'GET',
    pattern: '/v1/fleet/targets/stats',
    permission: 'read',
    paths: ['/v1/fleet/targets/stats?name=refusals%2F1.0.0%2Ffw.bin'],
  },
  { method: 'GET', pattern: '/v1/fleet/summary', permission: 'read', paths: ['/v1/fleet/summary?prefix=rf-'] },
  { method: 'GET', pattern: '/v1/fleet/breakdown', permission: 'read', paths: ['/v1/fleet/breakdown'] },
  { method: 'GET', pattern: '/v1/admin/metadata', permission: 'read', paths: ['/v1/admin/metadata'] },
  {
    method: 'GET',
    pattern: '/v1/admin/metadata/watermarks',
    permission: 'read',
    paths: ['/v1/admin/metadata/watermarks'],
  },
  {
    method: 'POST',
    pattern: '/v1/admin/metadata/accept-storage',
    permission: 'metadata.manage',
    paths: ['/v1/admin/metadata/accept-storage'],
  },
  // Any reader may report what it published: only metadata that verifies raises a watermark.
  {
    method: 'POST',
    pattern: '/v1/admin/metadata/published',
    permission: 'read',
    paths: ['/v1/admin/metadata/published'],
  },
  // Sign-out: with a token there is no session to end, but the guard runs as on every admin route.
  { method: 'DELETE', pattern: '/v1/session', permission: 'read', paths: ['/v1/session'] },
  {
    method: 'POST',
    pattern: '/v1/admin/uploads',
    permission: 'release.create',
    paths: ['/v1/admin/uploads?fileName=fw.bin'],
  },
  { method: 'POST', pattern: '/v1/admin/releases', permission: 'release.create', paths: ['/v1/admin/releases'] },
  { method: 'GET', pattern: '/v1/admin/releases', permission: 'read', paths: [`/v1/admin/releases?channel=${NONE}`] },
  {
    method: 'GET',
    pattern: '/v1/admin/releases/resolve',
    permission: 'read',
    paths: ['/v1/admin/releases/resolve?version=1.0.0&channel=refusals'],
  },
  {
    method: 'GET',
    pattern: '/v1/admin/releases/:channel/:version',
    permission: 'read',
    paths: [`/v1/admin/releases/${NONE}/1.0.0`],
  },
  {
    method: 'GET',
    pattern: '/v1/admin/releases/:channel/:version/insights',
    permission: 'read',
    paths: [`/v1/admin/releases/${NONE}/1.0.0/insights?buckets=10`],
  },
  {
    method: 'POST',
    pattern: '/v1/admin/releases/:channel/:version/approve',
    permission: 'release.decide',
    paths: [`/v1/admin/releases/${NONE}/1.0.0/approve`],
  },
  {
    method: 'POST',
    pattern: '/v1/admin/releases/:channel/:version/reject',
    permission: 'release.decide',
    paths: [`/v1/admin/releases/${NONE}/1.0.0/reject`],
  },
  // One route per action (api/releaseRoutes.ts), so another word is no route (405 or 404).
  ...OPS_ACTIONS.map((a) => ({
    method: 'POST' as const,
    pattern: `/v1/admin/releases/:channel/:version/${a}`,
    permission: 'release.operate' as const,
    paths: [`/v1/admin/releases/${NONE}/1.0.0/${a}`],
  })),
];

/** A request to each route, with an empty JSON body for POSTs (an upload sends none: Content-Length 0). */
const probes = () =>
  ROUTES.flatMap((r) =>
    r.paths.map((path) => ({
      route: r,
      call: {
        method: r.method,
        path,
        ...(r.method === 'POST' && r.pattern !== '/v1/admin/uploads' ? { body: {} } : {}),
      } satisfies Call,
    })),
  );

/** What the routers keep of their routes (express's Router type does not show it). */
interface RouterLayers {
  stack: Array<{
    route?: { path: string; methods: Record<string, boolean>; stack: Array<{ handle: { permission?: Permission } }> };
  }>;
}

/** The routes as the routers register them, each with the permission its guard was made for. */
function registeredRoutes(): string[] {
  const guard = (permission: Permission): RequestHandler =>
    Object.assign(((_req, _res, next) => next()) as RequestHandler, { permission });
  const routers = [
    adminRoutes({ guard } as unknown as AdminRouteDeps),
    releaseRoutes({ guard } as unknown as ReleaseRouteDeps),
    insightRoutes({ guard } as unknown as InsightRouteDeps),
    metadataRoutes({ guard } as unknown as Parameters<typeof metadataRoutes>[0]),
    // The refusal gate's middleware is no guard: it stands in as one that lets everything through.
    sessionRoutes({
      guard,
      gate: { admit: (): RequestHandler => (_req, _res, next) => next() },
    } as unknown as SessionRouteDeps),
  ] as unknown as RouterLayers[];
  return routers.flatMap((router) =>
    router.stack.flatMap((layer) => {
      const route = layer.route;
      if (!route) return [];
      return Object.keys(route.methods).map(
        (m) => `${m.toUpperCase()} ${route.path} ${route.stack[0]!.handle.permission ?? '(no guard)'}`,
      );
    }),
  );
}

describe('admin API refusals: HTTP status and error code of each', () => {
  before(async function () {
    this.timeout(120_000);
    caPem = await readFile(testConfig().identity.fleetCaCert, 'utf8');
    agent = new Agent({ connect: { ca: caPem } });
    TOKENS.admin = await stackToken(TEST_PROFILE, 'admin');
    TOKENS.ops = process.env['OTA_TOKEN']!;
    for (const role of OPERATOR_ROLES) TOKENS[role] = await operatorToken(`rf-${role}`, [role]);
    TOKENS.creator = await operatorToken('rf-creator');
    TOKENS.approver = await operatorToken('rf-approver');
    TOKENS.stranger = await operatorToken('rf-stranger');
    // An owner of channel 'strict' (test/fixtures/policy.json), with the roles approvals.test.ts gives it.
    TOKENS.bob = await operatorToken('bob');
    TOKENS.revoked = await operatorToken('rf-revoked', ['viewer']);
    const revoked = await call({
      path: '/v1/admin/operators/rf-revoked/revoke',
      as: 'admin',
      body: { reason: 'tests' },
    });
    expect(revoked.status, JSON.stringify(revoked.body)).to.equal(200);
  });

  after(async () => {
    await agent?.close();
  });

  it('the route table below is every admin route, with the permission its guard asks for', () => {
    // Sign-in and "who am I signed in as" are the only admin-side routes without a guard: they make and read the session.
    const table = [
      ...ROUTES.filter((r) => r.pattern !== '/metrics').map((r) => `${r.method} ${r.pattern} ${r.permission}`),
      'POST /v1/session (no guard)',
      'GET /v1/session (no guard)',
    ];
    expect(registeredRoutes().sort()).to.deep.equal(table.sort());
  });

  it('401 UNAUTHENTICATED on every route: no token, another scheme, a malformed, an unknown or a revoked token', async () => {
    const credentials: Array<[string, Partial<Call>]> = [
      ['no Authorization', { as: 'none' }],
      ['Basic scheme', { authorization: `Basic ${Buffer.from('ops:secret').toString('base64')}` }],
      ['malformed bearer', { authorization: 'Bearer short' }],
      ['token with a space', { authorization: `Bearer ${'a'.repeat(20)} ${'b'.repeat(20)}` }],
      ['unknown token', { authorization: `Bearer ota_${'x'.repeat(43)}` }],
      ['revoked token', { as: 'revoked' }],
    ];
    for (const { call: c } of probes()) {
      for (const [how, auth] of credentials) {
        expectRefused(await call({ ...c, ...auth }), {
          what: `${c.method} ${c.path} (${how})`,
          status: 401,
          code: 'UNAUTHENTICATED',
        });
      }
    }
  });

  it("403 FORBIDDEN for each role without the route's permission (api/permissions.ts GRANTS); the others get past the guard", async () => {
    let refused = 0;
    for (const { route, call: c } of probes()) {
      for (const role of OPERATOR_ROLES) {
        const a = await call({ ...c, as: role });
        const what = `${role}: ${c.method} ${c.path}`;
        if (GRANTS[role].includes(route.permission)) {
          expect(a.status, `${what}: ${JSON.stringify(a.body)}`)
            .to.be.within(200, 499)
            .and.not.oneOf([401, 403]);
        } else {
          expectRefused(a, { what, status: 403, code: 'FORBIDDEN' });
          refused++;
        }
      }
    }
    // Each role lacks something: viewer all changes, admin releases and devices, operator decisions...
    expect(refused).to.be.greaterThan(40);
  });

  it('400 INVALID_INPUT for bodies, parameters and queries the routes do not take', async () => {
    const operator = { name: 'rf-new', roles: ['viewer'] };
    const token = { deviceId: 'rf-new-device', hardwareId: 'devkit-a', channel: 'refusals' };
    const release = {
      version: '1.0.0',
      channel: NONE,
      hardwareIds: ['devkit-a'],
      rollbackIndex: 1,
      uploadKey: 'uploads/api/rf-none/fw.bin',
    };
    const long = 'x'.repeat(1001);
    const refusals: Refusal[] = [
      // Bodies that are not JSON objects at all (any JSON route; the parser answers first).
      {
        what: 'malformed JSON',
        path: '/v1/admin/operators',
        as: 'admin',
        raw: '{"name":',
        headers: { 'content-type': 'application/json' },
        status: 400,
        code: 'INVALID_INPUT',
      },
      {
        what: 'JSON null',
        path: '/v1/admin/operators',
        as: 'admin',
        raw: 'null',
        headers: { 'content-type': 'application/json' },
        status: 400,
        code: 'INVALID_INPUT',
      },
      {
        what: 'a JSON array',
        path: '/v1/admin/operators',
        as: 'admin',
        body: [operator],
        status: 400,
        code: 'INVALID_INPUT',
      },
      {
        what: 'JSON sent as text/plain',
        path: '/v1/admin/operators',
        as: 'admin',
        raw: JSON.stringify(operator),
        headers: { 'content-type': 'text/plain' },
        status: 400,
        code: 'INVALID_INPUT',
      },
      // POST /v1/admin/operators
      {
        what: 'operator without roles',
        path: '/v1/admin/operators',
        as: 'admin',
        body: { name: 'rf-new' },
        status: 400,
        code: 'INVALID_INPUT',
      },
      {
        what: 'operator name with capitals',
        path: '/v1/admin/operators',
        as: 'admin',
        body: { ...operator, name: 'Rf New' },
        status: 400,
        code: 'INVALID_INPUT',
      },
      {
        what: 'unknown role',
        path: '/v1/admin/operators',
        as: 'admin',
        body: { ...operator, roles: ['root'] },
        status: 400,
        code: 'INVALID_INPUT',
      },
      {
        what: 'no roles',
        path: '/v1/admin/operators',
        as: 'admin',
        body: { ...operator, roles: [] },
        status: 400,
        code: 'INVALID_INPUT',
      },
      {
        what: 'operator with a token field',
        path: '/v1/admin/operators',
        as: 'admin',
        body: { ...operator, token: 'mine' },
        status: 400,
        code: 'INVALID_INPUT',
      },
      // POST /v1/admin/operators/:name/revoke (an unknown name: passing validation would answer 404)
      {
        what: 'revoke reason not text',
        path: '/v1/admin/operators/rf-nobody/revoke',
        as: 'admin',
        body: { reason: 5 },
        status: 400,
        code: 'INVALID_INPUT',
      },
      {
        what: 'revoke reason too long',
        path: '/v1/admin/operators/rf-nobody/revoke',
        as: 'admin',
        body: { reason: long },
        status: 400,
        code: 'INVALID_INPUT',
      },
      // GET /v1/admin/audit, /v1/admin/devices
      ...['0', '1001', 'abc', '1.5', '1&limit=2'].map((l): Refusal => ({
        what: `audit limit=${l}`,
        path: `/v1/admin/audit?limit=${l}`,
        status: 400,
        code: 'INVALID_INPUT',
      })),
      { what: 'devices limit=10001', path: '/v1/admin/devices?limit=10001', status: 400, code: 'INVALID_INPUT' },
      // POST /v1/admin/devices/tokens
      { what: 'token without fields', path: '/v1/admin/devices/tokens', body: {}, status: 400, code: 'INVALID_INPUT' },
      {
        what: 'token device id ../x',
        path: '/v1/admin/devices/tokens',
        body: { ...token, deviceId: '../x' },
        status: 400,
        code: 'INVALID_INPUT',
      },
      {
        what: 'token channel with capitals',
        path: '/v1/admin/devices/tokens',
        body: { ...token, channel: 'Refusals' },
        status: 400,
        code: 'INVALID_INPUT',
      },
      {
        what: 'token ttl 0',
        path: '/v1/admin/devices/tokens',
        body: { ...token, ttlSeconds: 0 },
        status: 400,
        code: 'INVALID_INPUT',
      },
      {
        what: 'token ttl over 30 days',
        path: '/v1/admin/devices/tokens',
        body: { ...token, ttlSeconds: 2592001 },
        status: 400,
        code: 'INVALID_INPUT',
      },
      {
        what: 'token group with a space',
        path: '/v1/admin/devices/tokens',
        body: { ...token, groups: ['a b'] },
        status: 400,
        code: 'INVALID_INPUT',
      },
      // /v1/admin/devices/:id...
      {
        what: 'explain without ?version',
        path: '/v1/admin/devices/rf-nodevice/explain',
        status: 400,
        code: 'INVALID_INPUT',
      },
      {
        what: 'explain ?version=v1',
        path: '/v1/admin/devices/rf-nodevice/explain?version=v1',
        status: 400,
        code: 'INVALID_INPUT',
      },
      {
        what: 'labels without tags',
        path: '/v1/admin/devices/rf-nodevice/labels',
        body: { groups: ['lab'] },
        status: 400,
        code: 'INVALID_INPUT',
      },
      {
        what: 'label group with a space',
        path: '/v1/admin/devices/rf-nodevice/labels',
        body: { groups: ['a b'], tags: {} },
        status: 400,
        code: 'INVALID_INPUT',
      },
      {
        what: 'device revoke reason not text',
        path: '/v1/admin/devices/rf-nodevice/revoke',
        body: { reason: 1 },
        status: 400,
        code: 'INVALID_INPUT',
      },
      { what: 'a path that does not decode', path: '/v1/admin/devices/%E0%A4%A', status: 400, code: 'INVALID_INPUT' },
      // /v1/fleet
      { what: 'target stats without ?name', path: '/v1/fleet/targets/stats', status: 400, code: 'INVALID_INPUT' },
      {
        what: 'target stats name over 300',
        path: `/v1/fleet/targets/stats?name=${'n'.repeat(301)}`,
        status: 400,
        code: 'INVALID_INPUT',
      },
      // POST /v1/admin/uploads
      { what: 'upload without ?fileName', path: '/v1/admin/uploads', raw: 'x', status: 400, code: 'INVALID_INPUT' },
      {
        what: 'upload fileName ../fw.bin',
        path: '/v1/admin/uploads?fileName=..%2Ffw.bin',
        raw: 'x',
        status: 400,
        code: 'INVALID_INPUT',
      },
      // POST /v1/admin/releases (checks before the upload's)
      { what: 'release without fields', path: '/v1/admin/releases', body: {}, status: 400, code: 'INVALID_INPUT' },
      {
        what: 'release version v1',
        path: '/v1/admin/releases',
        body: { ...release, version: 'v1' },
        status: 400,
        code: 'INVALID_INPUT',
      },
      {
        what: 'release channel with a space',
        path: '/v1/admin/releases',
        body: { ...release, channel: 'a b' },
        status: 400,
        code: 'INVALID_INPUT',
      },
      {
        what: 'release without hardware',
        path: '/v1/admin/releases',
        body: { ...release, hardwareIds: [] },
        status: 400,
        code: 'INVALID_INPUT',
      },
      {
        what: 'release rollbackIndex -1',
        path: '/v1/admin/releases',
        body: { ...release, rollbackIndex: -1 },
        status: 400,
        code: 'INVALID_INPUT',
      },
      {
        what: 'release with createdBy',
        path: '/v1/admin/releases',
        body: { ...release, createdBy: 'someone-else' },
        status: 400,
        code: 'INVALID_INPUT',
      },
      {
        what: 'release upload outside uploads/api/',
        path: '/v1/admin/releases',
        body: { ...release, uploadKey: 'uploads/release-x/fw.bin' },
        status: 400,
        code: 'INVALID_INPUT',
      },
      {
        what: 'release upload key not made by the API',
        path: '/v1/admin/releases',
        body: release,
        status: 400,
        code: 'INVALID_INPUT',
      },
      {
        what: 'release upload that does not exist',
        path: '/v1/admin/releases',
        body: { ...release, uploadKey: 'uploads/api/00000000-0000-4000-8000-000000000000/fw.bin' },
        status: 400,
        code: 'INVALID_INPUT',
      },
      {
        what: 'release upload key with //',
        path: '/v1/admin/releases',
        body: { ...release, uploadKey: 'uploads/api//fw.bin' },
        status: 400,
        code: 'INVALID_INPUT',
      },
      // Was HTTP 500: MinIO refuses such an object name outright, and Storage.stat passed that on.
      {
        what: 'release upload key with ..',
        path: '/v1/admin/releases',
        body: { ...release, uploadKey: 'uploads/api/../../fw.bin' },
        status: 400,
        code: 'INVALID_INPUT',
      },
      // GET /v1/admin/releases, /resolve, /:channel/:version
      { what: 'list ?stage=nowhere', path: '/v1/admin/releases?stage=nowhere', status: 400, code: 'INVALID_INPUT' },
      { what: 'list ?channel=Bad', path: '/v1/admin/releases?channel=Bad', status: 400, code: 'INVALID_INPUT' },
      { what: 'resolve without ?version', path: '/v1/admin/releases/resolve', status: 400, code: 'INVALID_INPUT' },
      {
        what: 'resolve ?version=v1',
        path: '/v1/admin/releases/resolve?version=v1',
        status: 400,
        code: 'INVALID_INPUT',
      },
      {
        what: 'resolve ?channel=Bad',
        path: '/v1/admin/releases/resolve?version=1.0.0&channel=Bad',
        status: 400,
        code: 'INVALID_INPUT',
      },
      { what: 'status of channel Bad', path: '/v1/admin/releases/Bad/1.0.0', status: 400, code: 'INVALID_INPUT' },
      { what: 'status of version v1', path: `/v1/admin/releases/${NONE}/v1`, status: 400, code: 'INVALID_INPUT' },
      // GET /v1/admin/releases/:channel/:version/insights
      {
        what: 'insights of version v1',
        path: `/v1/admin/releases/${NONE}/v1/insights`,
        status: 400,
        code: 'INVALID_INPUT',
      },
      {
        what: 'insights of channel Bad',
        path: '/v1/admin/releases/Bad/1.0.0/insights',
        status: 400,
        code: 'INVALID_INPUT',
      },
      ...['1', '501', '1000000', 'abc', '2.5', '10&buckets=20'].map((b): Refusal => ({
        what: `insights buckets=${b}`,
        path: `/v1/admin/releases/${NONE}/1.0.0/insights?buckets=${b}`,
        status: 400,
        code: 'INVALID_INPUT',
      })),
      // approve / reject: the approver is the token's operator, never a name in the body
      ...(['approve', 'reject'] as const).flatMap((d): Refusal[] => [
        {
          what: `${d} naming an approver`,
          path: `/v1/admin/releases/${NONE}/1.0.0/${d}`,
          body: { approver: 'someone-else' },
          status: 400,
          code: 'INVALID_INPUT',
        },
        {
          what: `${d} comment too long`,
          path: `/v1/admin/releases/${NONE}/1.0.0/${d}`,
          body: { comment: long },
          status: 400,
          code: 'INVALID_INPUT',
        },
        {
          what: `${d} on channel Bad`,
          path: `/v1/admin/releases/Bad/1.0.0/${d}`,
          body: {},
          status: 400,
          code: 'INVALID_INPUT',
        },
      ]),
      // the operations
      ...OPS_ACTIONS.flatMap((a): Refusal[] => [
        {
          what: `${a} naming an actor`,
          path: `/v1/admin/releases/${NONE}/1.0.0/${a}`,
          body: { actor: 'someone-else' },
          status: 400,
          code: 'INVALID_INPUT',
        },
        {
          what: `${a} reason too long`,
          path: `/v1/admin/releases/${NONE}/1.0.0/${a}`,
          body: { reason: long },
          status: 400,
          code: 'INVALID_INPUT',
        },
        {
          what: `${a} to v1`,
          path: `/v1/admin/releases/${NONE}/1.0.0/${a}`,
          body: { to: 'v1' },
          status: 400,
          code: 'INVALID_INPUT',
        },
        {
          what: `${a} of version v1`,
          path: `/v1/admin/releases/${NONE}/v1/${a}`,
          body: {},
          status: 400,
          code: 'INVALID_INPUT',
        },
      ]),
      ...OPS_ACTIONS.filter((a) => a !== 'rollback').map((a): Refusal => ({
        what: `${a} with "to"`,
        path: `/v1/admin/releases/${NONE}/1.0.0/${a}`,
        body: { to: '0.9.0' },
        status: 400,
        code: 'INVALID_INPUT',
      })),
    ];
    await expectAll(refusals);
  });

  it('sign-in: 400 for a malformed token or body, 401 for an unknown or revoked token; no session without a cookie', async () => {
    await expectAll([
      {
        what: 'sign in without a token',
        path: '/v1/session',
        as: 'none',
        body: {},
        status: 400,
        code: 'INVALID_INPUT',
      },
      {
        what: 'sign in with a short token',
        path: '/v1/session',
        as: 'none',
        body: { token: 'short' },
        status: 400,
        code: 'INVALID_INPUT',
      },
      {
        what: 'sign in with a token and more',
        path: '/v1/session',
        as: 'none',
        body: { token: TOKENS.viewer, role: 'admin' },
        status: 400,
        code: 'INVALID_INPUT',
      },
      {
        what: 'sign in with an unknown token',
        path: '/v1/session',
        as: 'none',
        body: { token: `ota_${'x'.repeat(43)}` },
        status: 401,
        code: 'UNAUTHENTICATED',
      },
      {
        what: 'sign in with a revoked token',
        path: '/v1/session',
        as: 'none',
        body: { token: TOKENS.revoked },
        status: 401,
        code: 'UNAUTHENTICATED',
      },
      { what: 'the session without a cookie', path: '/v1/session', as: 'none', status: 401, code: 'UNAUTHENTICATED' },
    ]);
  });

  it('415 (code INVALID_INPUT) for a body in a charset or encoding the JSON parser does not read', async () => {
    await expectAll([
      {
        what: 'charset latin1',
        path: '/v1/admin/operators',
        as: 'admin',
        raw: '{}',
        headers: { 'content-type': 'application/json; charset=latin1' },
        status: 415,
        code: 'INVALID_INPUT',
        notFromTable: true,
      },
      {
        what: 'content-encoding compress',
        path: '/v1/admin/operators',
        as: 'admin',
        raw: '{}',
        headers: { 'content-type': 'application/json', 'content-encoding': 'compress' },
        status: 415,
        code: 'INVALID_INPUT',
        notFromTable: true,
      },
    ]);
  });

  it('404 NOT_FOUND for unknown operators, devices, releases, actions and routes; 405 METHOD_NOT_ALLOWED for a method a route does not take', async () => {
    const release = `/v1/admin/releases/${NONE}/1.0.0`;
    await expectAll([
      {
        what: 'revoke an unknown operator',
        path: '/v1/admin/operators/rf-nobody/revoke',
        as: 'admin',
        body: {},
        status: 404,
        code: 'NOT_FOUND',
      },
      {
        what: 'revoke a revoked operator',
        path: '/v1/admin/operators/rf-revoked/revoke',
        as: 'admin',
        body: {},
        status: 404,
        code: 'NOT_FOUND',
      },
      { what: 'an unknown device', path: '/v1/admin/devices/rf-nodevice', status: 404, code: 'NOT_FOUND' },
      {
        what: 'explain an unknown device',
        path: '/v1/admin/devices/rf-nodevice/explain?version=1.0.0',
        status: 404,
        code: 'NOT_FOUND',
      },
      {
        what: 'label an unknown device',
        path: '/v1/admin/devices/rf-nodevice/labels',
        body: { groups: ['lab'], tags: { site: 'x' } },
        status: 404,
        code: 'NOT_FOUND',
      },
      {
        what: 'revoke an unknown device',
        path: '/v1/admin/devices/rf-nodevice/revoke',
        body: { reason: 'lost' },
        status: 404,
        code: 'NOT_FOUND',
      },
      { what: 'status of an unknown release', path: release, status: 404, code: 'NOT_FOUND' },
      { what: 'insights of an unknown release', path: `${release}/insights`, status: 404, code: 'NOT_FOUND' },
      {
        what: 'resolve an unknown version',
        path: '/v1/admin/releases/resolve?version=99.98.97',
        status: 404,
        code: 'NOT_FOUND',
      },
      {
        what: 'approve an unknown release',
        path: `${release}/approve`,
        as: 'approver',
        body: { comment: 'x' },
        status: 404,
        code: 'NOT_FOUND',
      },
      {
        what: 'reject an unknown release',
        path: `${release}/reject`,
        as: 'approver',
        body: {},
        status: 404,
        code: 'NOT_FOUND',
      },
      ...OPS_ACTIONS.map((a): Refusal => ({
        what: `${a} an unknown release`,
        path: `${release}/${a}`,
        body: a === 'rollback' ? { to: '0.9.0' } : {},
        status: 404,
        code: 'NOT_FOUND',
      })),
      { what: 'an unknown release action', path: `${release}/explode`, body: {}, status: 404, code: 'NOT_FOUND' },
      { what: 'an unknown admin route', path: '/v1/admin/nothing', status: 404, code: 'NOT_FOUND' },
      // A path the API serves with other methods is 405, not 404 (api/methods.ts).
      {
        what: 'GET on a POST route',
        path: '/v1/admin/operators/rf-nobody/revoke',
        as: 'admin',
        status: 405,
        code: 'METHOD_NOT_ALLOWED',
      },
    ]);
  });

  it('409 ALREADY_EXISTS for an operator name that is taken (revoked names too) and a token for an enrolled device', async () => {
    await deviceFetch('rf-enrolled', 'refusals');
    await expectAll([
      {
        what: 'an existing operator',
        path: '/v1/admin/operators',
        as: 'admin',
        body: { name: 'rf-viewer', roles: ['viewer'] },
        status: 409,
        code: 'ALREADY_EXISTS',
      },
      {
        what: "a revoked operator's name",
        path: '/v1/admin/operators',
        as: 'admin',
        body: { name: 'rf-revoked', roles: ['admin'] },
        status: 409,
        code: 'ALREADY_EXISTS',
      },
      {
        what: 'a token for an enrolled device',
        path: '/v1/admin/devices/tokens',
        body: { deviceId: 'rf-enrolled', hardwareId: 'devkit-a', channel: 'refusals' },
        status: 409,
        code: 'ALREADY_EXISTS',
      },
    ]);
    const revoked = await call({ path: '/v1/admin/devices/rf-enrolled/revoke', body: { reason: 'tests' } });
    expect(revoked.status).to.equal(200);
    expectRefused(await call({ path: '/v1/admin/devices/rf-enrolled/revoke', body: {} }), {
      what: 'revoke a revoked device',
      status: 404,
      code: 'NOT_FOUND',
    });
  });

  it("413 PAYLOAD_TOO_LARGE for JSON bodies over each router's limit and uploads of no or too many bytes", async () => {
    const over = (kib: number) => ({ comment: 'x'.repeat(kib * 1024) });
    await expectAll([
      // adminRoutes: 16 KiB
      {
        what: 'operator body of 17 KiB',
        path: '/v1/admin/operators',
        as: 'admin',
        body: over(17),
        status: 413,
        code: 'PAYLOAD_TOO_LARGE',
      },
      {
        what: 'enrollment token body of 17 KiB',
        path: '/v1/admin/devices/tokens',
        body: over(17),
        status: 413,
        code: 'PAYLOAD_TOO_LARGE',
      },
      {
        what: 'labels body of 17 KiB',
        path: '/v1/admin/devices/rf-nodevice/labels',
        body: over(17),
        status: 413,
        code: 'PAYLOAD_TOO_LARGE',
      },
      // releaseRoutes: 64 KiB
      {
        what: 'release body of 65 KiB',
        path: '/v1/admin/releases',
        body: over(65),
        status: 413,
        code: 'PAYLOAD_TOO_LARGE',
      },
      {
        what: 'approve body of 65 KiB',
        path: `/v1/admin/releases/${NONE}/1.0.0/approve`,
        body: over(65),
        status: 413,
        code: 'PAYLOAD_TOO_LARGE',
      },
      {
        what: 'pause body of 65 KiB',
        path: `/v1/admin/releases/${NONE}/1.0.0/pause`,
        body: over(65),
        status: 413,
        code: 'PAYLOAD_TOO_LARGE',
      },
      {
        what: 'an empty upload',
        path: '/v1/admin/uploads?fileName=fw.bin',
        method: 'POST',
        status: 413,
        code: 'PAYLOAD_TOO_LARGE',
      },
    ]);
    const tooBig = await declaredOnly('/v1/admin/uploads?fileName=fw.bin', {
      'content-length': String(MAX_ARTIFACT_BYTES + 1),
    });
    expectRefused(tooBig, { what: 'an upload declaring 4 GiB + 1', status: 413, code: 'PAYLOAD_TOO_LARGE' });
    const chunked = await declaredOnly('/v1/admin/uploads?fileName=fw.bin', { 'transfer-encoding': 'chunked' });
    expectRefused(chunked, { what: 'an upload without Content-Length', status: 413, code: 'PAYLOAD_TOO_LARGE' });
  });

  describe('on releases', function () {
    const channel = 'refusals';
    const first = `/v1/admin/releases/${channel}/1.0.0`;
    const second = `/v1/admin/releases/${channel}/1.1.0`;
    const strict = '/v1/admin/releases/strict/1.1.0';

    before(async function () {
      this.timeout(300_000);
      // 1.0.0 (rollback index 1) and 1.1.0 (index 2, an hour's bake) on 'refusals'; 1.1.0 on
      // 'strict' (two approvals from alice, bob or carol). Made together: most of it is waiting.
      await Promise.all([
        releaseAwaitingApproval(channel, '1.0.0', { as: 'rf-creator', rollbackIndex: 1 }),
        releaseAwaitingApproval(channel, '1.1.0', { as: 'rf-creator', rollbackIndex: 2, bake: '1h' }),
        releaseAwaitingApproval('strict', '1.1.0', { as: 'rf-creator' }),
      ]);
    });

    after(async function () {
      this.timeout(60_000);
      // Nothing of this file stays running (the strict release would wait for approvals forever).
      for (const path of [strict, second])
        await call({ path: `${path}/abort`, body: { reason: 'end of adminRefusals tests' } });
    });

    it('403 APPROVAL_REFUSED when the creator approves or rejects their own release, never a 5xx', async () => {
      await expectAll([
        {
          what: 'the creator approving',
          path: `${first}/approve`,
          as: 'creator',
          body: { comment: 'mine' },
          status: 403,
          code: 'APPROVAL_REFUSED',
        },
        {
          what: 'the creator rejecting',
          path: `${first}/reject`,
          as: 'creator',
          body: {},
          status: 403,
          code: 'APPROVAL_REFUSED',
        },
      ]);
      const s = await releaseStatus(await temporalClient(), { channel, version: '1.0.0' });
      expect(s).to.include({ stage: 'approval', awaitingApproval: true });
      expect(s.approvals).to.deep.equal([]);
    });

    it('403 APPROVAL_REFUSED on a channel with owners: the creator, a non-owner, and an owner approving twice', async () => {
      await expectAll([
        {
          what: 'the creator approving',
          path: `${strict}/approve`,
          as: 'creator',
          body: {},
          status: 403,
          code: 'APPROVAL_REFUSED',
        },
        {
          what: 'a non-owner approving',
          path: `${strict}/approve`,
          as: 'stranger',
          body: {},
          status: 403,
          code: 'APPROVAL_REFUSED',
        },
        {
          what: 'a non-owner rejecting',
          path: `${strict}/reject`,
          as: 'stranger',
          body: {},
          status: 403,
          code: 'APPROVAL_REFUSED',
        },
      ]);
      const once = await call({ path: `${strict}/approve`, as: 'bob', body: { comment: 'first of two' } });
      expect(once.status, JSON.stringify(once.body)).to.equal(200);
      await expectAll([
        {
          what: 'an owner approving twice',
          path: `${strict}/approve`,
          as: 'bob',
          body: { comment: 'again' },
          status: 403,
          code: 'APPROVAL_REFUSED',
        },
        {
          what: 'an owner rejecting after approving',
          path: `${strict}/reject`,
          as: 'bob',
          body: {},
          status: 403,
          code: 'APPROVAL_REFUSED',
        },
      ]);
      const s = await releaseStatus(await temporalClient(), { channel: 'strict', version: '1.1.0' });
      expect(s.stage).to.equal('approval');
      expect(s.approvals.map((a) => a.approver)).to.deep.equal(['bob']);
    });

    it('409 WRONG_STAGE for rollout operations on a release awaiting approval', async () => {
      await expectAll([
        ...(['pause', 'resume', 'promote'] as const).map((a): Refusal => ({
          what: `${a} at approval`,
          path: `${first}/${a}`,
          body: { reason: 'x' },
          status: 409,
          code: 'WRONG_STAGE',
        })),
        {
          what: 'rollback --to at approval',
          path: `${first}/rollback`,
          body: { to: '0.9.0' },
          status: 409,
          code: 'WRONG_STAGE',
        },
      ]);
      expect((await releaseStatus(await temporalClient(), { channel, version: '1.0.0' })).stage).to.equal('approval');
    });

    it('409 RELEASE_EXISTS for a release that exists; 400 for an unknown plan or bad steps', async () => {
      const upload = await call({
        path: '/v1/admin/uploads?fileName=rf-again.bin',
        raw: Buffer.alloc(1024, 7),
        headers: { 'content-type': 'application/octet-stream' },
      });
      expect(upload.status, JSON.stringify(upload.body)).to.equal(201);
      const body = {
        version: '1.0.0',
        channel,
        hardwareIds: ['devkit-a'],
        rollbackIndex: 1,
        uploadKey: upload.body['uploadKey'],
      };
      const step = { percent: 100, bakeTimeMs: 0, minDevices: 0, maxFailureRate: 1, gate: 'auto' };
      await expectAll([
        {
          what: 'an unknown plan',
          path: '/v1/admin/releases',
          body: { ...body, version: '1.9.0', plan: 'nosuchplan' },
          status: 400,
          code: 'INVALID_INPUT',
        },
        {
          what: 'falling steps',
          path: '/v1/admin/releases',
          body: {
            ...body,
            version: '1.9.0',
            steps: [
              { ...step, percent: 50 },
              { ...step, percent: 20 },
            ],
          },
          status: 400,
          code: 'INVALID_INPUT',
        },
        {
          what: 'steps not ending at 100%',
          path: '/v1/admin/releases',
          body: { ...body, version: '1.9.0', steps: [{ ...step, percent: 50 }] },
          status: 400,
          code: 'INVALID_INPUT',
        },
        {
          what: 'the same version and channel again',
          path: '/v1/admin/releases',
          body,
          status: 409,
          code: 'RELEASE_EXISTS',
        },
      ]);
    });

    it('409 WRONG_STAGE for deciding or operating a finished release', async () => {
      const client = await temporalClient();
      const approved = await call({ path: `${first}/approve`, as: 'approver', body: { comment: 'good' } });
      expect(approved.status, JSON.stringify(approved.body)).to.equal(200);
      await waitForStatus(client, { channel, version: '1.0.0' }, (s) => s.stage === 'stable');
      await expectAll([
        {
          what: 'approve a stable release',
          path: `${first}/approve`,
          as: 'bob',
          body: {},
          status: 409,
          code: 'WRONG_STAGE',
        },
        {
          what: 'reject a stable release',
          path: `${first}/reject`,
          as: 'bob',
          body: {},
          status: 409,
          code: 'WRONG_STAGE',
        },
        ...OPS_ACTIONS.map((a): Refusal => ({
          what: `${a} a stable release`,
          path: `${first}/${a}`,
          body: {},
          status: 409,
          code: 'WRONG_STAGE',
        })),
      ]);
    });

    it('in rollout: 409 WRONG_STAGE for approvals and resume, 409 ROLLBACK_NOT_ALLOWED below the rollback index, 400/404 for other --to versions', async () => {
      const client = await temporalClient();
      const approved = await call({ path: `${second}/approve`, as: 'approver', body: {} });
      expect(approved.status, JSON.stringify(approved.body)).to.equal(200);
      await waitForStatus(client, { channel, version: '1.1.0' }, (s) => s.stage === 'rollout' && s.percent === 100);
      await expectAll([
        {
          what: 'approve in rollout',
          path: `${second}/approve`,
          as: 'bob',
          body: {},
          status: 409,
          code: 'WRONG_STAGE',
        },
        { what: 'resume a running rollout', path: `${second}/resume`, body: {}, status: 409, code: 'WRONG_STAGE' },
        {
          what: 'rollback --to 1.0.0 (index 1 < 2)',
          path: `${second}/rollback`,
          body: { to: '1.0.0', reason: 'x' },
          status: 409,
          code: 'ROLLBACK_NOT_ALLOWED',
        },
        {
          what: 'rollback --to itself',
          path: `${second}/rollback`,
          body: { to: '1.1.0' },
          status: 400,
          code: 'INVALID_INPUT',
        },
        {
          what: 'rollback --to a later version',
          path: `${second}/rollback`,
          body: { to: '2.0.0' },
          status: 400,
          code: 'INVALID_INPUT',
        },
        // Was 409 WRONG_STAGE "it is rollout": control/releases.ts took the update's NOT_FOUND for a closed workflow.
        {
          what: 'rollback --to a version never released',
          path: `${second}/rollback`,
          body: { to: '0.1.0' },
          status: 404,
          code: 'NOT_FOUND',
        },
      ]);
      const s = await releaseStatus(client, { channel, version: '1.1.0' });
      expect(s).to.include({ stage: 'rollout', withdrawn: false, paused: false });
      expect(s.history.filter((h) => h.action === 'rollback')).to.deep.equal([]);
    });

    it('400 INVALID_INPUT when a version alone names releases on several channels', async () => {
      const r = await waitFor('both channels of 1.1.0 in visibility', async () => {
        const a = await call({ path: '/v1/admin/releases/resolve?version=1.1.0' });
        return a.status !== 200 && a;
      });
      expectRefused(r, { what: 'resolve 1.1.0 (refusals and strict)', status: 400, code: 'INVALID_INPUT' });
    });
  });
});
