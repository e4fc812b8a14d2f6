import { patterns } from '../common/validation';

/**
 * Request and response schemas: the OpenAPI document is built from these, and the
 * same objects validate requests (api/validate.ts), so the two cannot drift apart.
 */
const semver = { type: 'string', maxLength: 64, format: 'semver' };
const deviceId = { type: 'string', pattern: patterns.deviceId };

export const schemas = {
  PollRequest: {
    type: 'object',
    additionalProperties: false,
    required: ['deviceId', 'hardwareId', 'channel', 'currentVersion'],
    properties: {
      deviceId,
      hardwareId: { type: 'string', pattern: patterns.hardwareId },
      channel: { type: 'string', pattern: patterns.channel },
      currentVersion: semver,
    },
  },
  PollResponse: {
    type: 'object',
    required: ['offer'],
    properties: {
      offer: {
        description: 'A hint only: the device verifies both signed repositories before acting on it.',
        oneOf: [
          { type: 'null' },
          { type: 'object', required: ['targetName', 'version'], properties: { targetName: { type: 'string' }, version: semver } },
        ],
      },
    },
  },
  InstallReport: {
    type: 'object',
    additionalProperties: false,
    required: ['deviceId', 'version', 'outcome'],
    properties: {
      deviceId,
      version: semver,
      targetName: { type: 'string', maxLength: 300 },
      outcome: { type: 'string', enum: ['installed', 'refused', 'failed'] },
      health: { type: 'string', enum: ['healthy', 'reverted'] },
      errorCode: { type: 'string', pattern: '^[A-Z][A-Z0-9_]{0,63}$' },
      message: { type: 'string', maxLength: 1000 },
    },
  },
  Accepted: { type: 'object', required: ['accepted'], properties: { accepted: { type: 'boolean' } } },
  FleetSummary: {
    type: 'object',
    properties: {
      devices: { type: 'integer' },
      versions: { type: 'object', additionalProperties: { type: 'integer' } },
      outcomes: { type: 'object', additionalProperties: { type: 'integer' } },
      errorCodes: { type: 'object', additionalProperties: { type: 'integer' } },
    },
  },
  TargetStats: {
    type: 'object',
    description: 'Latest report per device for one target. Rollout gates judge healthy vs reverted.',
    properties: {
      devices: { type: 'integer' },
      healthy: { type: 'integer' },
      reverted: { type: 'integer' },
      failed: { type: 'integer' },
      refused: { type: 'integer' },
    },
  },
  Error: {
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        properties: {
          code: { type: 'string' },
          message: { type: 'string' },
          requestId: { type: 'string', description: 'The x-request-id of the request, as in the API log' },
        },
      },
    },
  },
} as const;

export type SchemaName = keyof typeof schemas;
