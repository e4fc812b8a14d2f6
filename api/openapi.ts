import { schemas } from './schemas';

const ref = (name: keyof typeof schemas) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: keyof typeof schemas) => ({ content: { 'application/json': { schema: ref(name) } } });
const errors = {
  '400': { description: 'Invalid input', ...json('Error') },
  '404': { description: 'Not found', ...json('Error') },
  '413': { description: 'Body too large', ...json('Error') },
};

/** The device API, served at GET /v1/openapi.json. Every route in routes.ts appears here. */
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
    '/v1/poll': {
      post: {
        summary: 'Ask whether an update is offered to this device',
        requestBody: { required: true, ...json('PollRequest') },
        responses: { '200': { description: 'Offer or null', ...json('PollResponse') }, ...errors },
      },
    },
    '/v1/reports': {
      post: {
        summary: 'Report an install outcome (kept durably in the fleet store)',
        requestBody: { required: true, ...json('InstallReport') },
        responses: { '202': { description: 'Stored', ...json('Accepted') }, ...errors },
      },
    },
    '/v1/repos/{repo}/metadata/{file}': {
      get: {
        summary: 'TUF metadata of the release or rollout repository',
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
        parameters: [{ name: 'name', in: 'query', required: true, schema: { type: 'string', maxLength: 300 } }],
        responses: { '200': { description: 'Stats', ...json('TargetStats') }, ...errors },
      },
    },
    '/v1/fleet/summary': {
      get: {
        summary: 'Versions and latest outcomes across the fleet',
        parameters: [{ name: 'prefix', in: 'query', required: false, schema: { type: 'string', maxLength: 128 } }],
        responses: { '200': { description: 'Summary', ...json('FleetSummary') } },
      },
    },
  },
  components: { schemas },
} as const;
