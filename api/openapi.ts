import { LOG_SOURCES, OPS_ACTIONS } from '../common/adminApi';
import { STAGES } from '../common/release';
import { patterns } from '../common/validation';
import { responseSchemas } from './responses';
import { schemas } from './schemas';

type SchemaName = keyof typeof schemas | keyof typeof responseSchemas;
const ref = (name: SchemaName) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: SchemaName) => ({ content: { 'application/json': { schema: ref(name) } } });
const bytes = (type: string) => ({ content: { [type]: { schema: { type: 'string' } } } });

/**
 * Every refusal status an operation can answer, and what gives it (api/errorResponses.ts maps each
 * code to its status). Each operation lists the ones it can give; schemathesis fails
 * `npm test` on an answer whose status is not listed.
 */
const REFUSALS = {
  // Any request: a path or query the store could not hold (S-18), besides each route's own checks.
  '400': 'Invalid input: body, path or query (INVALID_INPUT, CSR_INVALID, ATTESTATION_MALFORMED)',
  '401': 'No valid device certificate or operator token (UNAUTHENTICATED)',
  '403':
    'Not allowed: revoked device, another device id, a role without this permission, a cookie change without its CSRF token, refused evidence or approval, the artifact of a protected release for an ineligible device (ARTIFACT_REFUSED)',
  '404': 'Not found (NOT_FOUND)',
  '409': 'Conflicts with what exists: ALREADY_EXISTS, RELEASE_EXISTS, WRONG_STAGE, UPDATE_FAILED, ROLLBACK_NOT_ALLOWED',
  '413': 'Body too large (PAYLOAD_TOO_LARGE)',
  '415': 'A JSON body in a charset or content encoding the parser does not read (INVALID_INPUT)',
  '416': 'Range not satisfiable (RANGE_NOT_SATISFIABLE)',
  '422':
    'Metadata that does not verify against the trusted root (VALIDATION_FAILED), or a webhook URL the API will not send to (WEBHOOK_URL_REFUSED)',
  '429':
    'Too many refused unauthenticated attempts (unknown tokens) from this source: nothing was looked at; try again after Retry-After seconds (RATE_LIMITED)',
  '503':
    'Something it needs is down: Temporal, the fleet store, the audit log (a change is then refused before it runs), the release worker, attestation or dashboard not set up (UNAVAILABLE, NO_WORKER), or storage holds older metadata than already served (STORAGE_ROLLBACK)',
  '504': 'The release accepted the update, no worker finished it in time: it completes when one runs (UPDATE_PENDING)',
} as const;
type Refusal = keyof typeof REFUSALS;
const RETRY_AFTER = {
  'Retry-After': { description: 'Seconds until this source may try again', schema: { type: 'integer', minimum: 1 } },
};
const refusals = (...statuses: Refusal[]) =>
  Object.fromEntries(
    statuses.map((s) => [
      s,
      { description: REFUSALS[s], ...(s === '429' ? { headers: RETRY_AFTER } : {}), ...json('Error') },
    ]),
  );
/** What every JSON body can be refused with: schema, size, charset. */
const BODY: Refusal[] = ['400', '413', '415'];
// 503: the fleet store cannot be reached (every request's identity is checked there), or
// storage holds older metadata than was already served (STORAGE_ROLLBACK).
const DEVICE: Refusal[] = ['400', '401', '403', '503'];
/** A metadata file, flat or a partition's. */
const metadataResponses = {
  '200': {
    description: 'Signed metadata (timestamp.json with an ETag)',
    content: { 'application/json': { schema: { type: 'object' } } },
  },
  '304': { description: 'timestamp.json unchanged: the If-None-Match ETag is the current one' },
  ...refusals(...DEVICE, '404'),
};
const READ: Refusal[] = ['400', '401', '403', '503'];
// A change is audited first: an audit log that cannot be written refuses it with 503 (S-15); it
// is an attempt at the refusal gate until its credential names an operator (429, S-30).
const CHANGE: Refusal[] = [...READ, ...BODY, '429'];
/** Reads and updates that go through Temporal: 503 when it or the worker is down. */
const RELEASE: Refusal[] = ['404', '503'];

const text = (maxLength: number) => ({ type: 'string', minLength: 1, maxLength });
const inPath = (name: string, schema: object = text(128)) => ({ name, in: 'path', required: true, schema });
const inQuery = (name: string, schema: object, required = false) => ({ name, in: 'query', required, schema });
const CHANNEL = { type: 'string', pattern: patterns.channel };
const WEBHOOK_ID = { type: 'string', pattern: '^[1-9][0-9]{0,14}$' };
const VERSION = { type: 'string', maxLength: 64, format: 'semver' };
const release = [inPath('channel', CHANNEL), inPath('version', VERSION)];
const LOG_INDEX = { type: 'integer', minimum: 0, maximum: 9_999_999_999 };
const limit = (max: number) => inQuery('limit', { type: 'integer', minimum: 1, maximum: max, default: 100 });

const device = [{ deviceCertificate: [] }];
// An operator token, or the dashboard's session cookie (then a change also needs x-csrf-token).
const operator = (permission: string) => ({
  security: [{ operatorToken: [] }, { dashboardSession: [] }],
  description: `Needs permission ${permission} (api/permissions.ts).`,
});

/** An admin operation's answer (its status and schema), inputs and refusals. */
interface AdminOperation {
  status?: '200' | '201' | '204';
  schema?: SchemaName;
  body?: SchemaName;
  parameters?: object[];
  /** Refusals besides the guard's (401, 403) and 400. */
  refusals?: Refusal[];
}
/** An admin operation: the permission its guard asks for, its answer, its inputs and every refusal it can give. */
const admin = (summary: string, permission: string, o: AdminOperation) => ({
  summary,
  ...operator(permission),
  ...(o.parameters ? { parameters: o.parameters } : {}),
  ...(o.body ? { requestBody: { required: true, ...json(o.body) } } : {}),
  responses: {
    [o.status ?? '200']: o.schema ? { description: 'OK', ...json(o.schema) } : { description: 'OK' },
    ...refusals(...(o.body ? CHANGE : READ), ...(o.refusals ?? [])),
  },
});

/**
 * The API, served at GET /v1/openapi.json. Every route of the routers in api/ appears here
 * (test/integration/api/openapi.test.ts).
 */
export const openapi = {
  openapi: '3.1.0',
  info: {
    title: 'Enigm OTA device API',
    version: '1.0.0',
    description:
      'Untrusted delivery: devices verify the signed TUF metadata themselves; answers here are hints. ' +
      "Every response carries `x-request-id`: the request's own if it is 1-64 characters of [A-Za-z0-9._-], else a new one. " +
      'A method a path does not serve is answered 405 METHOD_NOT_ALLOWED with `Allow`.',
  },
  paths: {
    '/healthz': {
      get: { summary: 'Liveness', responses: { '200': { description: 'OK', ...json('Health') }, ...refusals('400') } },
    },
    '/metrics': {
      get: {
        summary: 'Prometheus metrics of this API process (text exposition format)',
        ...operator('read'),
        responses: { '200': { description: 'OK', ...bytes('text/plain') }, ...refusals(...READ) },
      },
    },
    '/v1/openapi.json': {
      get: {
        summary: 'This document',
        responses: {
          '200': { description: 'OpenAPI 3.1', content: { 'application/json': { schema: { type: 'object' } } } },
          ...refusals('400'),
        },
      },
    },
    '/v1/enroll': {
      post: {
        summary:
          'Trade a one-time enrollment token and a CSR signed by its own key for a device certificate (no client certificate yet; an enrolled device is refused until revoked; audited)',
        requestBody: { required: true, ...json('Enroll') },
        responses: {
          '201': { description: 'PEM certificate naming the device', ...json('Certificate') },
          ...refusals(...BODY, '403', '429', '503'),
        },
      },
    },
    '/v1/devices/renew': {
      post: {
        summary: 'Renew the device certificate (mutual TLS with the current one, which then stops working)',
        security: device,
        requestBody: { required: true, ...json('Renew') },
        responses: {
          '201': { description: 'PEM certificate', ...json('Certificate') },
          ...refusals(...DEVICE, ...BODY),
        },
      },
    },
    '/v1/poll': {
      post: {
        security: device,
        summary: 'Ask whether an update is offered to this device',
        requestBody: { required: true, ...json('PollRequest') },
        responses: {
          '200': { description: 'Offer or null', ...json('PollResponse') },
          ...refusals(...DEVICE, ...BODY),
        },
      },
    },
    '/v1/reports': {
      post: {
        summary:
          'Report an install outcome (kept durably; a repeated reportId counts once); `waiting` with `waitReason` says why a verified release is not installed yet, never a failure',
        security: device,
        requestBody: { required: true, ...json('InstallReport') },
        responses: { '202': { description: 'Stored', ...json('Accepted') }, ...refusals(...DEVICE, ...BODY) },
      },
    },
    '/v1/attestation/nonce': {
      post: {
        summary: 'A single-use, expiring nonce for attestation evidence',
        security: device,
        responses: { '201': { description: 'Nonce', ...json('Nonce') }, ...refusals(...DEVICE) },
      },
    },
    '/v1/attestation': {
      post: {
        summary:
          "Attestation evidence signed by the device's manufacturer-certified key over a nonce (S-13); the verdict is stored with the device",
        security: device,
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                description: 'enigm-ota/attestation/v1 evidence (fleet/attestation.ts), at most 16 KiB',
              },
            },
          },
        },
        responses: {
          '200': { description: 'Passed', ...json('AttestationVerdict') },
          ...refusals(...DEVICE, ...BODY, '503'),
          '403': {
            description: `${REFUSALS['403']}; evidence with failing measurements also carries passed: false`,
            content: { 'application/json': { schema: { anyOf: [ref('Error'), ref('AttestationVerdict')] } } },
          },
        },
      },
    },
    '/v1/log/proof': {
      get: {
        summary:
          "Where a signed metadata file's log entry is (by its leaf hash), the log's latest checkpoint, an inclusion proof and a consistency proof from the size the device kept; the device checks all of it (ADR 0078)",
        security: device,
        parameters: [inQuery('leaf', { type: 'string', pattern: '^[0-9a-f]{64}$' }, true), inQuery('from', LOG_INDEX)],
        responses: {
          '200': { description: 'Proofs', ...json('LogProofs') },
          ...refusals(...DEVICE, '400', '404', '503'),
        },
      },
    },
    '/v1/repos/{repo}/metadata/{file}': {
      get: {
        summary: 'TUF metadata of the release or rollout repository',
        security: device,
        parameters: [
          inPath('repo', { type: 'string', enum: ['release', 'rollout'] }),
          inPath('file', {
            type: 'string',
            pattern: '^([1-9][0-9]{0,9}\\.)?(root|timestamp|snapshot|targets)\\.json$',
          }),
        ],
        responses: metadataResponses,
      },
    },
    '/v1/repos/{repo}/p/{channel}/{hardware}/metadata/{file}': {
      get: {
        summary:
          "TUF metadata of one partition (channel and hardware) of a partitioned repository; roots are the repository's. A device reads only its own partition, as enrolled (403 METADATA_REFUSED)",
        security: device,
        parameters: [
          inPath('repo', { type: 'string', enum: ['release', 'rollout'] }),
          inPath('channel', { type: 'string', pattern: patterns.channel }),
          inPath('hardware', { type: 'string', pattern: patterns.hardwareId }),
          inPath('file', {
            type: 'string',
            pattern: '^([1-9][0-9]{0,9}\\.)?(root|timestamp|snapshot|targets)\\.json$',
          }),
        ],
        responses: metadataResponses,
      },
    },
    '/v1/artifacts/{sha256}': {
      get: {
        summary:
          'Artifact bytes by content address (only releases in the signed rollout; a protected release only for an eligible device: 403 ARTIFACT_REFUSED); redirected to a short-lived presigned storage URL, or streamed with OTA_ARTIFACT_DELIVERY=stream; supports HTTP Range',
        security: device,
        parameters: [
          inPath('sha256', { type: 'string', pattern: patterns.sha256 }),
          { name: 'Range', in: 'header', required: false, schema: { type: 'string', maxLength: 100 } },
        ],
        responses: {
          '200': { description: 'Whole artifact', ...bytes('application/octet-stream') },
          '206': { description: 'Requested range', ...bytes('application/octet-stream') },
          '302': {
            description:
              'A presigned storage URL for this artifact, valid OTA_ARTIFACT_URL_SECONDS: follow it (with the same Range header)',
            headers: { Location: { required: true, schema: { type: 'string', format: 'uri' } } },
          },
          ...refusals(...DEVICE, '404', '416'),
        },
      },
      head: {
        summary: "The artifact's length and ETag (a resume checks them), no bytes",
        security: device,
        parameters: [
          inPath('sha256', { type: 'string', pattern: patterns.sha256 }),
          { name: 'Range', in: 'header', required: false, schema: { type: 'string', maxLength: 100 } },
        ],
        responses: {
          '200': { description: 'Whole artifact' },
          '206': { description: 'Requested range' },
          '400': { description: REFUSALS['400'] },
          '401': { description: REFUSALS['401'] },
          '403': { description: REFUSALS['403'] },
          '404': { description: REFUSALS['404'] },
          '416': { description: REFUSALS['416'] },
          '503': { description: REFUSALS['503'] },
        },
      },
    },
    '/v1/fleet/targets/stats': {
      get: admin('Install and health outcomes of one target (what rollout gates judge)', 'read', {
        schema: 'TargetStats',
        parameters: [inQuery('name', text(300), true)],
      }),
    },
    '/v1/fleet/summary': {
      get: admin('Versions and latest outcomes across the fleet', 'read', {
        schema: 'FleetSummary',
        parameters: [
          inQuery('prefix', {
            type: 'string',
            maxLength: 128,
            description: 'Device ids starting with this (longer is cut to 128)',
          }),
        ],
      }),
    },
    '/v1/fleet/breakdown': {
      get: admin('Devices per current version, channel, hardware id, group and status', 'read', {
        schema: 'FleetBreakdown',
      }),
    },
    '/v1/session': {
      post: {
        summary: 'Dashboard sign-in: trade an operator token for a session cookie (HttpOnly, Secure, SameSite=Strict)',
        requestBody: { required: true, ...json('SignIn') },
        responses: {
          '201': { description: 'Signed in; Set-Cookie carries the session', ...json('SessionInfo') },
          ...refusals(...BODY, '401', '429', '503'),
        },
      },
      get: {
        summary: 'The session this cookie belongs to',
        responses: { '200': { description: 'Signed in', ...json('SessionInfo') }, ...refusals('400', '401') },
      },
      delete: {
        summary: 'Sign out: the session ends on every replica and the cookie is cleared',
        ...operator('read'),
        responses: { '204': { description: 'Signed out' }, ...refusals(...READ, '429') },
      },
    },
    '/': {
      get: {
        summary: 'Redirects to the dashboard',
        responses: { '302': { description: 'To /dashboard/' }, ...refusals('400') },
      },
    },
    '/dashboard': {
      get: {
        summary: 'Redirects to /dashboard/',
        responses: { '301': { description: 'To /dashboard/' }, ...refusals('400') },
      },
    },
    '/dashboard/': {
      get: {
        summary: "The operations dashboard's page",
        responses: { '200': { description: 'index.html', ...bytes('text/html') }, ...refusals('400', '503') },
      },
    },
    '/dashboard/{file}': {
      get: {
        summary:
          "The operations dashboard's files (index.html, app.js, app.css); / and /dashboard redirect to /dashboard/",
        parameters: [inPath('file', { type: 'string', enum: ['index.html', 'app.js', 'app.css'] })],
        responses: {
          '200': {
            description: 'The file',
            content: {
              'text/html': { schema: { type: 'string' } },
              'text/javascript': { schema: { type: 'string' } },
              'text/css': { schema: { type: 'string' } },
            },
          },
          ...refusals('400', '404'),
          '503': { description: 'The dashboard is not built', ...json('Error') },
        },
      },
    },
    '/v1/admin/metadata': {
      get: admin(
        "Metadata freshness: every role's version and expiry in both repositories, and the re-signing schedule",
        'read',
        { schema: 'MetadataStatus', refusals: ['503'] },
      ),
    },
    '/v1/admin/metadata/watermarks': {
      get: admin(
        'The highest verified version of each metadata role the API replicas have read from storage, with the last refused rollback (STORAGE_ROLLBACK); workers check what they build on against it',
        'read',
        { schema: 'MetadataWatermarks' },
      ),
    },
    '/v1/admin/metadata/published': {
      post: admin(
        'What a writer (a worker, `ota keys`) made timestamp.json publish (S-25): verified against the trusted root, the watermarks raised to its versions and every replica told to drop its caches; answers the watermarks as they are now. Any token that may read may send it: only validly signed files raise anything, and only to versions that were published',
        'read',
        { schema: 'MetadataWatermarks', body: 'PublishedMetadata', refusals: ['422'] },
      ),
    },
    '/v1/admin/metadata/accept-storage': {
      post: admin(
        "Accept a deliberately restored older storage (S-25): drop a repository's watermarks, with a reason (audited); the next verified reads set them from what storage holds",
        'metadata.manage',
        { schema: 'StorageAccepted', body: 'AcceptStorage' },
      ),
    },
    '/v1/admin/webhooks': {
      get: admin('Webhook subscriptions, with their pending, dead and delivered counts', 'webhook.manage', {
        schema: 'WebhookSubscriptions',
      }),
      post: admin(
        'Subscribe a URL to events, sent as signed CloudEvents (the signing secret is shown once; audited with the origin only)',
        'webhook.manage',
        { status: '201', schema: 'WebhookCreated', body: 'CreateWebhook', refusals: ['422'] },
      ),
    },
    '/v1/admin/webhooks/{id}': {
      delete: {
        ...admin('Remove a subscription: its undelivered events become dead', 'webhook.manage', {
          schema: 'WebhookRemoved',
          parameters: [inPath('id', WEBHOOK_ID)],
          refusals: ['404', '429'],
        }),
      },
    },
    '/v1/admin/webhooks/{id}/deliveries': {
      get: admin("A subscription's delivery log, newest first", 'webhook.manage', {
        schema: 'WebhookDeliveries',
        parameters: [
          inPath('id', WEBHOOK_ID),
          inQuery('state', { type: 'string', enum: ['pending', 'delivered', 'dead'] }),
          limit(1000),
        ],
        refusals: ['404'],
      }),
    },
    '/v1/admin/webhooks/{id}/redeliver': {
      post: admin('Send deliveries again (the given ones, or every dead one) for another 24 hours', 'webhook.manage', {
        schema: 'Redelivering',
        body: 'Redeliver',
        parameters: [inPath('id', WEBHOOK_ID)],
        refusals: ['404'],
      }),
    },
    '/v1/admin/events': {
      post: admin("The release worker's events for webhooks, recorded once per key", 'events.record', {
        schema: 'EventsRecorded',
        body: 'RecordEvents',
      }),
    },
    '/v1/admin/log/checkpoint': {
      get: admin("The transparency log's latest checkpoint, and how many leaves wait to be appended", 'read', {
        schema: 'LogCheckpoint',
      }),
    },
    '/v1/admin/log/entries': {
      get: admin('Entries [from, to) of the log at a size, as the log holds them (base64)', 'read', {
        schema: 'LogEntries',
        parameters: [inQuery('size', LOG_INDEX, true), inQuery('from', LOG_INDEX), inQuery('to', LOG_INDEX)],
      }),
    },
    '/v1/admin/log/consistency': {
      get: admin("The log's consistency proof between two sizes (RFC 9162)", 'read', {
        schema: 'LogProof',
        parameters: [inQuery('old', LOG_INDEX, true), inQuery('new', LOG_INDEX, true)],
      }),
    },
    '/v1/admin/log/sources': {
      get: admin("Logged rows of the fleet store as they are now, in their leaves' form", 'read', {
        schema: 'LogSources',
        parameters: [
          inQuery('source', { type: 'string', enum: [...LOG_SOURCES] }, true),
          inQuery('after', { type: 'integer', minimum: 0, maximum: 9_999_999_999 }),
          inQuery('limit', { type: 'integer', minimum: 1, maximum: 5000, default: 1000 }),
        ],
      }),
    },
    '/v1/admin/whoami': { get: admin('The operator this token belongs to', 'read', { schema: 'Operator' }) },
    '/v1/admin/operators': {
      get: admin('List operators', 'operator.manage', { schema: 'OperatorRows' }),
      post: admin('Add an operator (the token is shown once)', 'operator.manage', {
        status: '201',
        schema: 'OperatorCreated',
        body: 'CreateOperator',
        refusals: ['409'],
      }),
    },
    '/v1/admin/operators/{name}/revoke': {
      post: admin('Revoke an operator token', 'operator.manage', {
        schema: 'OperatorRevoked',
        body: 'Revoke',
        parameters: [inPath('name')],
        refusals: ['404'],
      }),
    },
    '/v1/admin/audit': {
      get: admin('The audit log: who did what, when and why (newest first)', 'read', {
        schema: 'AuditRows',
        parameters: [
          inQuery('actor', { type: 'string', maxLength: 128 }),
          inQuery('action', { type: 'string', maxLength: 128 }),
          limit(1000),
        ],
      }),
    },
    '/v1/admin/devices': {
      get: admin('The device inventory', 'read', {
        schema: 'Devices',
        parameters: [
          ...['status', 'channel', 'group', 'prefix'].map((q) => inQuery(q, { type: 'string', maxLength: 128 })),
          limit(10_000),
        ],
      }),
    },
    '/v1/admin/devices/tokens': {
      // The route GET /v1/admin/devices/:id serves this path too: a device may be named "tokens".
      get: admin('The device named "tokens" (GET /v1/admin/devices/{id})', 'read', {
        schema: 'DeviceDetail',
        refusals: ['404'],
      }),
      post: admin(
        "A one-time enrollment token for a device that is not enrolled; it ends the device's earlier tokens",
        'device.manage',
        { status: '201', schema: 'EnrollmentTokenIssued', body: 'EnrollmentToken', refusals: ['409'] },
      ),
    },
    '/v1/admin/devices/{id}': {
      get: admin('One device and its latest 50 reports, newest first', 'read', {
        schema: 'DeviceDetail',
        parameters: [inPath('id')],
        refusals: ['404'],
      }),
    },
    '/v1/admin/devices/{id}/labels': {
      post: admin("Set a device's groups and tags (replacing them)", 'device.manage', {
        schema: 'Device',
        body: 'Labels',
        parameters: [inPath('id')],
        refusals: ['404'],
      }),
    },
    '/v1/admin/devices/{id}/explain': {
      get: admin('Every eligibility check for a version, with its reason', 'read', {
        schema: 'Explanation',
        parameters: [inPath('id'), inQuery('version', VERSION, true)],
        refusals: ['404'],
      }),
    },
    '/v1/admin/devices/{id}/revoke': {
      post: admin('Revoke a device: its certificate is refused from the next request', 'device.manage', {
        schema: 'Device',
        body: 'Revoke',
        parameters: [inPath('id')],
        refusals: ['404'],
      }),
    },
    '/v1/admin/documents': {
      post: {
        ...admin(
          'Upload and check a release document: an SBOM (CycloneDX 1.4-1.7 or SPDX 2.x JSON) or provenance (an in-toto statement, or a DSSE envelope holding one); stored by its sha256 for POST /v1/admin/releases to name',
          'release.create',
          {
            status: '201',
            schema: 'DocumentStored',
            parameters: [inQuery('kind', { type: 'string', enum: ['sbom', 'provenance'] }, true)],
            refusals: ['413', '429'],
          },
        ),
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { type: 'object', description: 'At most 16 MiB, kept as sent' } } },
        },
      },
    },
    '/v1/admin/documents/{sha256}': {
      get: {
        summary: 'A release document as it was uploaded (its bytes are what the release signed)',
        ...operator('read'),
        parameters: [inPath('sha256', { type: 'string', pattern: '^[0-9a-f]{64}$' })],
        responses: {
          '200': { description: 'The document', content: { 'application/json': { schema: { type: 'object' } } } },
          ...refusals(...READ, '404'),
        },
      },
    },
    '/v1/fleet/components': {
      get: admin('Releases whose SBOM lists a component, and how many devices run each', 'read', {
        schema: 'ComponentMatches',
        parameters: [
          inQuery('name', { type: 'string', minLength: 1, maxLength: 128 }, true),
          inQuery('versionBelow', { type: 'string', maxLength: 128 }),
          limit(10_000),
        ],
      }),
    },
    '/v1/admin/uploads': {
      post: {
        ...admin(
          'Stream an artifact into intake (application/octet-stream, Content-Length required)',
          'release.create',
          {
            status: '201',
            schema: 'Upload',
            parameters: [inQuery('fileName', { type: 'string', pattern: patterns.fileName }, true)],
            refusals: ['413', '429'],
          },
        ),
        requestBody: {
          required: true,
          content: {
            'application/octet-stream': {
              schema: { type: 'string', format: 'binary', description: '1 byte to 4 GiB, Content-Length required' },
            },
          },
        },
      },
    },
    '/v1/admin/releases': {
      get: admin('List releases', 'read', {
        schema: 'ReleaseList',
        parameters: [inQuery('channel', CHANNEL), inQuery('stage', { type: 'string', enum: STAGES })],
        refusals: ['503'],
      }),
      post: admin('Start a release from an upload', 'release.create', {
        status: '201',
        schema: 'ReleaseCreated',
        body: 'CreateRelease',
        refusals: ['409'],
      }),
    },
    '/v1/admin/releases/resolve': {
      get: admin('The channel of a version that exists on one channel', 'read', {
        schema: 'ResolvedChannel',
        parameters: [inQuery('version', VERSION, true), inQuery('channel', CHANNEL)],
        refusals: RELEASE,
      }),
    },
    '/v1/admin/releases/{channel}/{version}': {
      get: admin('Release status with device outcomes', 'read', {
        schema: 'ReleaseStatusWithDevices',
        parameters: release,
        refusals: RELEASE,
      }),
    },
    '/v1/admin/releases/{channel}/{version}/insights': {
      get: admin(
        "Adoption on the release's channel since it started, and each started step's health as of its end",
        'read',
        {
          schema: 'ReleaseInsights',
          parameters: [...release, inQuery('buckets', { type: 'integer', minimum: 2, maximum: 500, default: 60 })],
          refusals: RELEASE,
        },
      ),
    },
    '/v1/admin/releases/{channel}/{version}/evidence': {
      get: {
        summary:
          "The release's evidence for an auditor (a tar, ADR 0080): its signed metadata, events and device receipts, each with an inclusion proof against one checkpoint",
        ...operator('read'),
        parameters: release,
        responses: {
          '200': { description: 'The evidence file', ...bytes('application/x-tar') },
          ...refusals(...READ, ...RELEASE, '413', '503'),
        },
      },
    },
    '/v1/admin/releases/{channel}/{version}/approve': {
      post: admin("Approve as the token's operator", 'release.decide', {
        schema: 'ReleaseStatus',
        body: 'Decision',
        parameters: release,
        refusals: [...RELEASE, '409', '504'],
      }),
    },
    '/v1/admin/releases/{channel}/{version}/reject': {
      post: admin("Reject as the token's operator", 'release.decide', {
        schema: 'ReleaseStatus',
        body: 'Decision',
        parameters: release,
        refusals: [...RELEASE, '409', '504'],
      }),
    },
    ...Object.fromEntries(
      OPS_ACTIONS.map((action) => [
        `/v1/admin/releases/{channel}/{version}/${action}`,
        {
          post: admin(
            `${action[0]!.toUpperCase()}${action.slice(1)} the release (${action === 'rollback' ? '"to" offers an earlier release again' : 'no "to"'})`,
            'release.operate',
            { schema: 'ReleaseStatus', body: 'OpsAction', parameters: release, refusals: [...RELEASE, '409', '504'] },
          ),
        },
      ]),
    ),
  },
  components: {
    schemas: { ...schemas, ...responseSchemas },
    securitySchemes: {
      deviceCertificate: {
        type: 'mutualTLS',
        description: 'A certificate from the fleet CA naming the device (enrollment).',
      },
      operatorToken: {
        type: 'http',
        scheme: 'bearer',
        description: 'An operator token (ota operator add); roles decide what it may do.',
      },
      dashboardSession: {
        type: 'apiKey',
        in: 'cookie',
        name: '__Host-ota_session',
        description: "The dashboard's session (POST /v1/session); changes also need the x-csrf-token header.",
      },
    },
  },
} as const;
