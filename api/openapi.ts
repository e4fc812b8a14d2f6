import { schemas } from './schemas';

const ref = (name: keyof typeof schemas) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: keyof typeof schemas) => ({ content: { 'application/json': { schema: ref(name) } } });
const errors = {
  '400': { description: 'Invalid input', ...json('Error') },
  '401': { description: 'No valid device certificate or operator token', ...json('Error') },
  '403': { description: 'Not allowed: revoked device, another device id, or a role without this permission', ...json('Error') },
  '404': { description: 'Not found', ...json('Error') },
  '413': { description: 'Body too large', ...json('Error') },
};

const device = [{ deviceCertificate: [] }];
// An operator token, or the dashboard's session cookie (then a change also needs x-csrf-token).
const operator = (permission: string) => ({ security: [{ operatorToken: [] }, { dashboardSession: [] }], description: `Needs permission ${permission} (api/permissions.ts).` });
const admin = (summary: string, permission: string, body?: keyof typeof schemas) => ({
  summary,
  ...operator(permission),
  ...(body ? { requestBody: { required: true, ...json(body) } } : {}),
  responses: { '200': { description: 'OK' }, ...errors },
});

/** The API, served at GET /v1/openapi.json. Every route of the routers in api/ appears here. */
export const openapi = {
  openapi: '3.1.0',
  info: {
    title: 'Enigm OTA device API',
    version: '1.0.0',
    description:
      'Untrusted delivery: devices verify the signed TUF metadata themselves; answers here are hints. ' +
      'Every response carries `x-request-id`: the request\'s own if it is 1-64 characters of [A-Za-z0-9._-], else a new one.',
  },
  paths: {
    '/healthz': { get: { summary: 'Liveness', responses: { '200': { description: 'OK' } } } },
    '/metrics': { get: { summary: 'Prometheus metrics of this API process (text exposition format)', responses: { '200': { description: 'OK' } } } },
    '/v1/openapi.json': { get: { summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1' } } } },
    '/v1/enroll': {
      post: {
        summary: 'Trade a one-time enrollment token and a CSR for a device certificate (no client certificate yet)',
        requestBody: { required: true, ...json('Enroll') },
        responses: { '201': { description: 'PEM certificate naming the device' }, ...errors },
      },
    },
    '/v1/devices/renew': {
      post: {
        summary: 'Renew the device certificate (mutual TLS with the current one, which then stops working)',
        security: device,
        requestBody: { required: true, ...json('Renew') },
        responses: { '201': { description: 'PEM certificate' }, ...errors },
      },
    },
    '/v1/poll': {
      post: {
        security: device,
        summary: 'Ask whether an update is offered to this device',
        requestBody: { required: true, ...json('PollRequest') },
        responses: { '200': { description: 'Offer or null', ...json('PollResponse') }, ...errors },
      },
    },
    '/v1/reports': {
      post: {
        summary: 'Report an install outcome (kept durably; a repeated reportId counts once)',
        security: device,
        requestBody: { required: true, ...json('InstallReport') },
        responses: { '202': { description: 'Stored', ...json('Accepted') }, ...errors },
      },
    },
    '/v1/repos/{repo}/metadata/{file}': {
      get: {
        summary: 'TUF metadata of the release or rollout repository',
        security: device,
        parameters: [
          { name: 'repo', in: 'path', required: true, schema: { type: 'string', enum: ['release', 'rollout'] } },
          { name: 'file', in: 'path', required: true, schema: { type: 'string', pattern: '^([1-9][0-9]{0,9}\\.)?(root|timestamp|snapshot|targets)\\.json$' } },
        ],
        responses: { '200': { description: 'Signed metadata (JSON)' }, ...errors },
      },
    },
    '/v1/artifacts/{sha256}': {
      get: {
        summary: 'Artifact bytes by content address; supports HTTP Range',
        security: device,
        parameters: [
          { name: 'sha256', in: 'path', required: true, schema: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
          { name: 'Range', in: 'header', required: false, schema: { type: 'string' } },
        ],
        responses: {
          '200': { description: 'Whole artifact' },
          '206': { description: 'Requested range' },
          '416': { description: 'Range not satisfiable', ...json('Error') },
          ...errors,
        },
      },
    },
    '/v1/fleet/targets/stats': {
      get: {
        summary: 'Install and health outcomes of one target (what rollout gates judge)',
        ...operator('read'),
        parameters: [{ name: 'name', in: 'query', required: true, schema: { type: 'string', maxLength: 300 } }],
        responses: { '200': { description: 'Stats', ...json('TargetStats') }, ...errors },
      },
    },
    '/v1/fleet/summary': {
      get: {
        summary: 'Versions and latest outcomes across the fleet',
        ...operator('read'),
        parameters: [{ name: 'prefix', in: 'query', required: false, schema: { type: 'string', maxLength: 128 } }],
        responses: { '200': { description: 'Summary', ...json('FleetSummary') } },
      },
    },
    '/v1/fleet/breakdown': {
      get: {
        summary: 'Devices per current version, channel, hardware id, group and status',
        ...operator('read'),
        responses: { '200': { description: 'Breakdown', ...json('FleetBreakdown') }, ...errors },
      },
    },
    '/v1/session': {
      post: {
        summary: 'Dashboard sign-in: trade an operator token for a session cookie (HttpOnly, Secure, SameSite=Strict)',
        requestBody: { required: true, ...json('SignIn') },
        responses: { '201': { description: 'Signed in; Set-Cookie carries the session', ...json('SessionInfo') }, ...errors },
      },
      get: { summary: 'The session this cookie belongs to', responses: { '200': { description: 'Signed in', ...json('SessionInfo') }, ...errors } },
      delete: { summary: 'Sign out: the session ends on every replica and the cookie is cleared', ...operator('read'), responses: { '204': { description: 'Signed out' }, ...errors } },
    },
    '/dashboard/{file}': {
      get: {
        summary: 'The operations dashboard (index.html, app.js, app.css); / and /dashboard redirect here',
        parameters: [{ name: 'file', in: 'path', required: true, schema: { type: 'string', enum: ['', 'index.html', 'app.js', 'app.css'] } }],
        responses: { '200': { description: 'The file' }, '404': errors['404'], '503': { description: 'The dashboard is not built', ...json('Error') } },
      },
    },
    '/v1/admin/metadata': { get: admin('Metadata freshness: every role\'s version and expiry in both repositories, and the re-signing schedule', 'read') },
    '/v1/admin/whoami': { get: admin('The operator this token belongs to', 'read') },
    '/v1/admin/operators': { get: admin('List operators', 'operator.manage'), post: admin('Add an operator (the token is shown once)', 'operator.manage', 'CreateOperator') },
    '/v1/admin/operators/{name}/revoke': { post: admin('Revoke an operator token', 'operator.manage', 'Revoke') },
    '/v1/admin/audit': { get: admin('The audit log: who did what, when and why (newest first)', 'read') },
    '/v1/admin/devices': { get: admin('The device inventory', 'read') },
    '/v1/admin/devices/tokens': { post: admin('A one-time enrollment token for a device', 'device.manage', 'EnrollmentToken') },
    '/v1/admin/devices/{id}': { get: admin('One device and its latest 50 reports, newest first', 'read') },
    '/v1/admin/devices/{id}/labels': { post: admin('Set a device\'s groups and tags (replacing them)', 'device.manage', 'Labels') },
    '/v1/admin/devices/{id}/explain': { get: admin('Every eligibility check for a version, with its reason', 'read') },
    '/v1/admin/devices/{id}/revoke': { post: admin('Revoke a device: its certificate is refused from the next request', 'device.manage', 'Revoke') },
    '/v1/admin/uploads': { post: admin('Stream an artifact into intake (application/octet-stream, Content-Length required)', 'release.create') },
    '/v1/admin/releases': { get: admin('List releases', 'read'), post: admin('Start a release from an upload', 'release.create', 'CreateRelease') },
    '/v1/admin/releases/resolve': { get: admin('The channel of a version that exists on one channel', 'read') },
    '/v1/admin/releases/{channel}/{version}': { get: admin('Release status with device outcomes', 'read') },
    '/v1/admin/releases/{channel}/{version}/insights': {
      get: {
        summary: 'Adoption on the release\'s channel since it started, and each started step\'s health as of its end',
        ...operator('read'),
        parameters: [{ name: 'buckets', in: 'query', required: false, schema: { type: 'integer', minimum: 2, maximum: 500, default: 60 } }],
        responses: { '200': { description: 'Insights', ...json('ReleaseInsights') }, ...errors },
      },
    },
    '/v1/admin/releases/{channel}/{version}/approve': { post: admin('Approve as the token\'s operator', 'release.decide', 'Decision') },
    '/v1/admin/releases/{channel}/{version}/reject': { post: admin('Reject as the token\'s operator', 'release.decide', 'Decision') },
    '/v1/admin/releases/{channel}/{version}/{action}': { post: admin('pause, resume, rollback, promote or abort', 'release.operate', 'OpsAction') },
  },
  components: {
    schemas,
    securitySchemes: {
      deviceCertificate: { type: 'mutualTLS', description: 'A certificate from the fleet CA naming the device (enrollment).' },
      operatorToken: { type: 'http', scheme: 'bearer', description: 'An operator token (ota operator add); roles decide what it may do.' },
      dashboardSession: { type: 'apiKey', in: 'cookie', name: '__Host-ota_session', description: 'The dashboard\'s session (POST /v1/session); changes also need the x-csrf-token header.' },
    },
  },
} as const;
