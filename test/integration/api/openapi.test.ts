import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { createTransport } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import { adminRoutes } from '../../../api/adminRoutes';
import { attestationRoutes } from '../../../api/attestationRoutes';
import { dashboardRoutes } from '../../../api/dashboardRoutes';
import { deviceRoutes } from '../../../api/deviceRoutes';
import { identityRoutes } from '../../../api/identityRoutes';
import { insightRoutes } from '../../../api/insightRoutes';
import { metadataRoutes } from '../../../api/metadataRoutes';
import { releaseRoutes } from '../../../api/releaseRoutes';
import { sessionRoutes } from '../../../api/sessionRoutes';
import { REPO_ROOT } from '../../paths';
import { operatorToken, refusalOf, testConfig } from '../helpers';

interface Operation {
  parameters?: Array<{ name: string; in: string }>;
  responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }>;
}
interface Doc {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown> };
}

async function fetchDoc(): Promise<Doc> {
  // Public, but over TLS: trust the fleet CA and present no certificate.
  const fetch = createTransport({ caPem: await readFile(testConfig().identity.fleetCaCert, 'utf8') });
  return (await (await fetch(`${testConfig().api.url}/v1/openapi.json`)).json()) as Doc;
}

/** Every route the API's routers register (built with stand-in dependencies: only their tables are read), plus the app's own /metrics. */
function registeredRoutes(): Array<{ method: string; path: string }> {
  const guard = () => (_req: unknown, _res: unknown, next: () => void) => next();
  const any = { guard, gate: { admit: guard } } as never;
  const routers = [
    adminRoutes(any),
    releaseRoutes(any),
    insightRoutes(any),
    metadataRoutes(any),
    sessionRoutes(any),
    deviceRoutes(any),
    identityRoutes(any),
    attestationRoutes(any),
    dashboardRoutes(),
  ] as unknown as Array<{ stack: Array<{ route?: { path: string | string[]; methods: Record<string, boolean> } }> }>;
  const routes = [{ method: 'get', path: '/metrics' }];
  for (const router of routers) {
    for (const { route } of router.stack) {
      if (!route) continue;
      for (const path of [route.path].flat())
        for (const method of Object.keys(route.methods)) routes.push({ method, path: path.replace(/:(\w+)/g, '{$1}') });
    }
  }
  return routes;
}

/**
 * The query parameters each route reads, from the routers' source: a `queryText(req, 'x')` (or
 * another reader of api/query.ts) belongs to the route registered last before it in its file.
 */
async function queriesRead(): Promise<Array<{ method: string; pattern: string; name: string }>> {
  const found: Array<{ method: string; pattern: string; name: string }> = [];
  for (const file of [
    'adminRoutes',
    'releaseRoutes',
    'insightRoutes',
    'metadataRoutes',
    'sessionRoutes',
    'deviceRoutes',
    'identityRoutes',
    'attestationRoutes',
    'dashboardRoutes',
  ]) {
    const source = await readFile(join(REPO_ROOT, 'api', `${file}.ts`), 'utf8');
    // A route, then the query parameters its handler reads (api/query.ts; `queryLimit` reads `limit`).
    const tokens =
      /r\.(get|post|delete|head)\(\s*[`'"]([^`'"]+)|\bquery(?:Text|Filter|Integer)\(req, ['"](\w+)['"]|\bqueryLimit\(req\b/g;
    let route: { method: string; pattern: string } | undefined;
    for (const m of source.matchAll(tokens)) {
      if (m[1]) route = { method: m[1], pattern: m[2]!.replace(/:(\w+)/g, '{$1}') };
      else found.push({ ...route!, name: m[3] ?? 'limit' });
    }
  }
  return found;
}

describe('GET /v1/openapi.json', () => {
  it('documents every device endpoint with the schemas requests are validated against', async () => {
    const doc = await fetchDoc();
    expect(Object.keys(doc.paths)).to.include.members([
      '/v1/poll',
      '/v1/reports',
      '/v1/repos/{repo}/metadata/{file}',
      '/v1/artifacts/{sha256}',
      '/v1/enroll',
      '/v1/devices/renew',
    ]);
    expect(doc.components.schemas).to.include.keys(
      'PollRequest',
      'PollResponse',
      'InstallReport',
      'Accepted',
      'FleetSummary',
      'TargetStats',
      'Error',
      'Enroll',
      'Renew',
    );
  });

  it('every registered route is an operation, with each path parameter declared', async () => {
    const doc = await fetchDoc();
    const routes = registeredRoutes();
    expect(routes.length).to.be.greaterThan(35);
    for (const { method, path } of routes) {
      const op = doc.paths[path]?.[method];
      expect(op, `${method.toUpperCase()} ${path} is not in the document`).to.be.an('object');
      const declared = (op!.parameters ?? [])
        .filter((p) => p.in === 'path')
        .map((p) => p.name)
        .sort();
      expect(declared, `${method.toUpperCase()} ${path}: path parameters`).to.deep.equal(
        [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort(),
      );
    }
  });

  it('every query parameter a route reads is declared on its operation', async () => {
    const doc = await fetchDoc();
    const reads = await queriesRead();
    // audit, devices (x2 for limit), explain, stats, summary, uploads, list, resolve, insights...
    expect(reads.length).to.be.greaterThan(12);
    for (const { method, pattern, name } of reads) {
      const templated = new RegExp(`^${pattern.replace(/\$\{\w+\}/g, '[a-z]+')}$`);
      const ops = Object.entries(doc.paths)
        .filter(([p]) => templated.test(p))
        .map(([, item]) => item[method]);
      expect(ops, `${method} ${pattern}`).to.not.have.lengthOf(0);
      for (const op of ops)
        expect(
          (op?.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name),
          `${method.toUpperCase()} ${pattern} ?${name}`,
        ).to.include(name);
    }
  });

  it('every operation has a response schema, every refusal the Error schema, and 409/413/503 where they can happen', async () => {
    const doc = await fetchDoc();
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        for (const [status, response] of Object.entries(op.responses)) {
          const what = `${method.toUpperCase()} ${path} ${status}`;
          // No body: HEAD, 204 and redirects.
          if (method === 'head' || status === '204' || status.startsWith('3')) continue;
          const media = Object.values(response.content ?? {});
          expect(media, `${what}: no content`).to.not.have.lengthOf(0);
          for (const m of media) {
            expect(m.schema, `${what}: no schema`).to.be.an('object');
            if (m.schema!.$ref)
              expect(doc.components.schemas, `${what}: ${m.schema!.$ref}`).to.have.property(
                m.schema!.$ref.split('/').pop()!,
              );
          }
          if (Number(status) >= 400 && !(path === '/v1/attestation' && status === '403'))
            expect(media[0]!.schema!.$ref, what).to.equal('#/components/schemas/Error');
        }
      }
    }
    const statuses = (path: string, method: string) => Object.keys(doc.paths[path]![method]!.responses);
    expect(statuses('/v1/admin/operators', 'post')).to.include.members([
      '201',
      '400',
      '401',
      '403',
      '409',
      '413',
      '415',
      '503',
    ]);
    expect(statuses('/v1/admin/releases/{channel}/{version}/approve', 'post')).to.include.members([
      '403',
      '404',
      '409',
      '503',
      '504',
    ]);
    expect(statuses('/v1/admin/uploads', 'post')).to.include.members(['413', '503', '429']);
    // S-30: where an unknown token can be sent, a source past its allowance is answered 429 with Retry-After.
    for (const [path, method] of [
      ['/v1/session', 'post'],
      ['/v1/enroll', 'post'],
      ['/v1/admin/operators', 'post'],
      ['/v1/session', 'delete'],
    ] as const) {
      expect(doc.paths[path]![method]!.responses, `${method} ${path}`).to.have.nested.property(
        '429.headers.Retry-After',
      );
    }
  });

  it('a method a path does not serve is 405 METHOD_NOT_ALLOWED with Allow listing the documented ones, not 404', async () => {
    const doc = await fetchDoc();
    const token = await operatorToken('oa-405', ['viewer']);
    const fetch = createTransport({ caPem: await readFile(testConfig().identity.fleetCaCert, 'utf8') });
    const cases: Array<[method: string, path: string, template: string]> = [
      ['DELETE', '/v1/admin/operators', '/v1/admin/operators'],
      ['GET', '/v1/admin/operators/nobody/revoke', '/v1/admin/operators/{name}/revoke'],
      ['PUT', '/v1/poll', '/v1/poll'],
      ['POST', '/healthz', '/healthz'],
      ['PATCH', '/v1/session', '/v1/session'],
      // Was 400: a `:action` route took "insights" and validated the body as an action's.
      ['POST', '/v1/admin/releases/main/1.0.0/insights', '/v1/admin/releases/{channel}/{version}/insights'],
      ['DELETE', '/dashboard/app.js', '/dashboard/{file}'],
    ];
    for (const [method, path, template] of cases) {
      const res = await fetch(`${testConfig().api.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: method === 'GET' ? undefined : '{}',
      });
      const body = (await res.json()) as { error?: { code?: string } };
      expect({ status: res.status, code: body.error?.code }, `${method} ${path}`).to.deep.equal({
        status: 405,
        code: 'METHOD_NOT_ALLOWED',
      });
      const documented = Object.keys(doc.paths[template]!).map((m) => m.toUpperCase());
      const allow = (res.headers.get('allow') ?? '').split(', ').filter((m) => m !== 'HEAD');
      expect(allow.sort(), `${method} ${path}: Allow`).to.deep.equal(documented.filter((m) => m !== 'HEAD').sort());
    }
    const unknown = await fetch(`${testConfig().api.url}/v1/nothing`, { method: 'PUT' });
    expect(unknown.status).to.equal(404);
    expect((await refusalOf(unknown)).code).to.equal('NOT_FOUND');
  });
});
