import { installWindowLimits, WEEKDAYS } from '@enigm-ota/client-sdk/installWindows';
import { TARGETING_NAME, targetingLimits } from '@enigm-ota/client-sdk/targeting';

import { patterns } from '../common/validation';
import { RELEASE_EVENT_TYPES } from '../common/webhookEvents';

/**
 * Request and response schemas: the OpenAPI document is built from these, the same objects
 * validate requests, and the request bodies' TypeScript types are derived from them
 * (api/requestBodies.ts), so the three cannot drift apart. Every fragment is `as const`: a
 * widened `type: string` would make a derived body type unknown.
 */
const semver = { type: 'string', maxLength: 64, format: 'semver' } as const;
const deviceId = { type: 'string', pattern: patterns.deviceId } as const;
// Group names, tag keys and values: the signed targeting's rules (client-sdk/src/targeting.ts).
const targetingName = { type: 'string', pattern: TARGETING_NAME.source } as const;
/** Device counts keyed by a value (a version, a channel...): the dashboard's answers. */
const counts = { type: 'object', additionalProperties: { type: 'integer' } } as const;
const groups = { type: 'array', maxItems: targetingLimits.maxGroups, items: targetingName } as const;
const tags = {
  type: 'object',
  maxProperties: targetingLimits.maxTags,
  propertyNames: targetingName,
  additionalProperties: { type: 'string', maxLength: targetingLimits.maxTagValueLength },
} as const;
/**
 * Install windows as devices read them (client-sdk/src/installWindows.ts, D-19); whether the
 * time zone is known is checked after the schema (common/validation.ts checkInstallWindows).
 */
const installWindows = {
  type: 'array',
  minItems: 1,
  maxItems: installWindowLimits.maxWindows,
  description:
    'When devices may install: on each of `days`, from `start` (local time in `timeZone`: UTC or an IANA zone) for `minutes`; only for devices in one of `groups` when given.',
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['days', 'start', 'minutes', 'timeZone'],
    properties: {
      days: { type: 'array', minItems: 1, maxItems: 7, uniqueItems: true, items: { type: 'string', enum: WEEKDAYS } },
      start: { type: 'string', pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$' },
      minutes: { type: 'integer', minimum: 1, maximum: installWindowLimits.maxMinutes },
      timeZone: {
        type: 'string',
        maxLength: installWindowLimits.maxZoneLength,
        pattern: '^[A-Za-z][A-Za-z0-9_+\\-/]{0,63}$',
      },
      groups: { ...groups, minItems: 1, uniqueItems: true },
    },
  },
} as const;
/**
 * A published timestamp.json or snapshot in base64: a few hundred bytes plus one signature line
 * per key, old and new keys both during a key change.
 */
export const PUBLISHED_FILE_CHARS = 32 * 1024;
const BASE64 = '^[A-Za-z0-9+/]*={0,2}$';

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
          {
            type: 'object',
            required: ['targetName', 'version'],
            properties: { targetName: { type: 'string' }, version: semver },
          },
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
      reportId: {
        type: 'string',
        pattern: '^[A-Za-z0-9_-]{8,64}$',
        description: 'Idempotency key: a retried report with the same id counts once.',
      },
      version: semver,
      targetName: { type: 'string', maxLength: 300 },
      outcome: {
        type: 'string',
        enum: ['installed', 'refused', 'failed', 'waiting'],
        description:
          'waiting: verified, but not installed yet (outside its install window, not ready, metered); never a failure.',
      },
      waitReason: { type: 'string', enum: ['window', 'not-ready', 'metered'] },
      health: { type: 'string', enum: ['healthy', 'reverted'] },
      errorCode: { type: 'string', pattern: '^[A-Z][A-Z0-9_]{0,63}$' },
      message: { type: 'string', maxLength: 1000 },
      delivery: {
        type: 'object',
        additionalProperties: false,
        required: ['as', 'bytes'],
        description:
          'How the image came: a delta or the full image, and the artifact bytes the device downloaded for it.',
        properties: {
          as: { type: 'string', enum: ['delta', 'full'] },
          bytes: { type: 'integer', minimum: 0, maximum: 17179869184 },
          deltaRefused: { type: 'string', pattern: '^[A-Z][A-Z0-9_]{0,63}$' },
        },
      },
      receipt: {
        type: 'object',
        additionalProperties: false,
        required: ['body', 'signature'],
        description:
          "The device's signature over the report (ADR 0079): body is the signed claims' JSON in base64, signature its SHA-256 signature by the key of the device's certificate. Required: a report without one is refused (RECEIPT_MISSING).",
        properties: {
          body: { type: 'string', maxLength: 2732 },
          signature: { type: 'string', maxLength: 684 },
          attestation: {
            type: 'object',
            additionalProperties: false,
            required: ['signature', 'certChain'],
            description:
              'Where the device has an attestation key: its signature over the same body, checked against the manufacturer roots as attestation evidence is.',
            properties: {
              signature: { type: 'string', maxLength: 1368 },
              certChain: { type: 'array', minItems: 1, maxItems: 4, items: { type: 'string', maxLength: 6144 } },
            },
          },
        },
      },
    },
  },
  CreateRelease: {
    type: 'object',
    additionalProperties: false,
    required: ['version', 'channel', 'hardwareIds', 'rollbackIndex', 'uploadKey'],
    properties: {
      version: semver,
      channel: { type: 'string', pattern: patterns.channel },
      hardwareIds: {
        type: 'array',
        minItems: 1,
        maxItems: 32,
        items: { type: 'string', pattern: patterns.hardwareId },
      },
      rollbackIndex: { type: 'integer', minimum: 0, maximum: 2147483647 },
      uploadKey: { type: 'string', maxLength: 300 },
      plan: { type: 'string', pattern: patterns.plan },
      deltaBases: {
        type: 'integer',
        minimum: 0,
        maximum: 8,
        description:
          "Delta updates from this many earlier releases of the channel and hardware (default: the plan's, else 2).",
      },
      steps: {
        type: 'array',
        maxItems: 20,
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['percent', 'bakeTimeMs', 'minDevices', 'maxFailureRate', 'gate'],
          properties: {
            percent: { type: 'number' },
            bakeTimeMs: { type: 'integer', minimum: 0 },
            minDevices: { type: 'integer', minimum: 0 },
            maxFailureRate: { type: 'number', minimum: 0, maximum: 1 },
            gate: { type: 'string', enum: ['auto', 'approval'] },
          },
        },
      },
      security: { type: 'boolean' },
      minSourceVersion: semver,
      windows: installWindows,
      targeting: {
        type: 'object',
        additionalProperties: false,
        properties: {
          attestationRequired: { type: 'boolean' },
          protected: {
            type: 'boolean',
            description: 'The artifact is handed only to devices eligible for this release',
          },
          groups: { ...groups, minItems: 1 },
          tags,
        },
      },
      documents: {
        type: 'object',
        additionalProperties: false,
        description:
          'The sha256 of an SBOM and of a provenance statement uploaded with POST /v1/admin/documents: signed into the target.',
        properties: {
          sbom: { type: 'string', pattern: '^[0-9a-f]{64}$' },
          provenance: { type: 'string', pattern: '^[0-9a-f]{64}$' },
        },
      },
    },
  },
  Decision: {
    type: 'object',
    additionalProperties: false,
    properties: { comment: { type: 'string', maxLength: 1000 } },
  },
  OpsAction: {
    type: 'object',
    additionalProperties: false,
    properties: { reason: { type: 'string', maxLength: 1000 }, to: semver },
  },
  CreateOperator: {
    type: 'object',
    additionalProperties: false,
    required: ['name', 'roles'],
    properties: {
      name: { type: 'string', pattern: patterns.operatorName },
      roles: {
        type: 'array',
        minItems: 1,
        maxItems: 5,
        items: { type: 'string', enum: ['admin', 'release-owner', 'operator', 'viewer', 'worker'] },
      },
    },
  },
  EnrollmentToken: {
    type: 'object',
    additionalProperties: false,
    required: ['deviceId', 'hardwareId', 'channel'],
    properties: {
      deviceId,
      hardwareId: { type: 'string', pattern: patterns.hardwareId },
      channel: { type: 'string', pattern: patterns.channel },
      groups,
      tags,
      ttlSeconds: { type: 'integer', minimum: 1, maximum: 2592000 },
    },
  },
  Enroll: {
    type: 'object',
    additionalProperties: false,
    required: ['token', 'deviceId', 'csr'],
    properties: {
      token: { type: 'string', maxLength: 200 },
      deviceId,
      csr: { type: 'string', maxLength: 8192 },
      currentVersion: semver,
    },
  },
  Renew: {
    type: 'object',
    additionalProperties: false,
    required: ['deviceId', 'csr'],
    properties: { deviceId, csr: { type: 'string', maxLength: 8192 } },
  },
  Labels: {
    type: 'object',
    additionalProperties: false,
    required: ['groups', 'tags'],
    properties: {
      groups,
      tags,
    },
  },
  SignIn: {
    type: 'object',
    additionalProperties: false,
    required: ['token'],
    properties: { token: { type: 'string', pattern: '^[A-Za-z0-9_-]{10,200}$' } },
  },
  Revoke: { type: 'object', additionalProperties: false, properties: { reason: { type: 'string', maxLength: 1000 } } },
  CreateWebhook: {
    type: 'object',
    additionalProperties: false,
    required: ['url', 'events'],
    description:
      'A subscription: where to send (http or https), which events (names, `release.*`-style prefixes or `all`), and optionally one channel.',
    properties: {
      url: { type: 'string', minLength: 1, maxLength: 2048 },
      events: {
        type: 'array',
        minItems: 1,
        maxItems: 32,
        uniqueItems: true,
        items: { type: 'string', pattern: '^[a-z.*-]{1,40}$' },
      },
      channel: { type: 'string', pattern: patterns.channel },
    },
  },
  Redeliver: {
    type: 'object',
    additionalProperties: false,
    description: 'Which deliveries to send again: these ids, or (without) every dead one of the subscription.',
    properties: {
      deliveryIds: { type: 'array', minItems: 1, maxItems: 1000, items: { type: 'integer', minimum: 1 } },
    },
  },
  RecordEvents: {
    type: 'object',
    additionalProperties: false,
    required: ['events'],
    properties: {
      events: {
        type: 'array',
        minItems: 1,
        maxItems: 50,
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['key', 'type', 'at', 'releaseId', 'channel', 'version', 'data'],
          properties: {
            key: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,200}$' },
            type: { type: 'string', enum: RELEASE_EVENT_TYPES },
            at: { type: 'string', pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,3})?Z$' },
            releaseId: { type: 'string', pattern: '^[A-Za-z0-9._:/+-]{1,200}$' },
            channel: { type: 'string', pattern: patterns.channel },
            version: semver,
            data: {
              type: 'object',
              maxProperties: 16,
              propertyNames: { type: 'string', pattern: '^[A-Za-z]{1,32}$' },
              additionalProperties: {
                oneOf: [{ type: 'string', maxLength: 1000 }, { type: 'number' }, { type: 'boolean' }],
              },
            },
          },
        },
      },
    },
  },
  AcceptStorage: {
    type: 'object',
    additionalProperties: false,
    required: ['repo', 'reason'],
    properties: {
      repo: { type: 'string', enum: ['release', 'rollout'] },
      reason: { type: 'string', minLength: 1, maxLength: 1000 },
    },
  },
  PublishedMetadata: {
    type: 'object',
    additionalProperties: false,
    required: ['repo', 'timestamp', 'snapshot'],
    description:
      'What a writer made timestamp.json publish: its bytes and those of the snapshot it names, in base64 (S-25)',
    properties: {
      repo: { type: 'string', enum: ['release', 'rollout'] },
      partition: {
        type: 'string',
        maxLength: 100,
        description: 'The file set: `channel/hardwareId`; absent: the flat one',
      },
      timestamp: { type: 'string', maxLength: PUBLISHED_FILE_CHARS, pattern: BASE64 },
      snapshot: { type: 'string', maxLength: PUBLISHED_FILE_CHARS, pattern: BASE64 },
    },
  },
  Accepted: {
    type: 'object',
    required: ['accepted'],
    properties: {
      accepted: { type: 'boolean' },
      duplicate: { type: 'boolean', description: 'The report id was stored before; nothing was counted again.' },
    },
  },
  FleetSummary: {
    type: 'object',
    properties: {
      devices: { type: 'integer' },
      versions: { type: 'object', additionalProperties: { type: 'integer' } },
      outcomes: { type: 'object', additionalProperties: { type: 'integer' } },
      errorCodes: { type: 'object', additionalProperties: { type: 'integer' } },
    },
  },
  SessionInfo: {
    type: 'object',
    description:
      'The signed-in operator, the permissions their roles grant, and the CSRF token every change made with the session cookie must send as x-csrf-token.',
    required: ['operator', 'permissions', 'csrfToken', 'expiresAt'],
    properties: {
      operator: {
        type: 'object',
        properties: { name: { type: 'string' }, roles: { type: 'array', items: { type: 'string' } } },
      },
      permissions: { type: 'array', items: { type: 'string' } },
      csrfToken: { type: 'string' },
      expiresAt: { type: 'string', format: 'date-time' },
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
      blocked: {
        type: 'integer',
        description:
          'Of the refused: devices that cannot install the release (rollback index, version, hardware); gates count them as failures.',
      },
      waiting: {
        type: 'object',
        description:
          'Devices that verified the release but wait to install it, by reason (outside its install windows, not ready, metered network); never counted as failures.',
        properties: {
          window: { type: 'integer' },
          notReady: { type: 'integer' },
          metered: { type: 'integer' },
        },
      },
    },
  },
  FleetBreakdown: {
    type: 'object',
    description:
      'Devices per current version, channel, hardware id, group and status; "(none)" for a device without a channel or hardware id.',
    properties: {
      total: { type: 'integer' },
      versions: counts,
      channels: counts,
      hardwareIds: counts,
      groups: counts,
      statuses: counts,
    },
  },
  ReleaseInsights: {
    type: 'object',
    properties: {
      adoption: {
        type: 'object',
        description:
          "Devices of the release's channel per version, from the release's first history record to now; points[0] at since, then every bucketMs, the last at until.",
        properties: {
          since: { type: 'string', format: 'date-time' },
          until: { type: 'string', format: 'date-time' },
          bucketMs: { type: 'integer' },
          points: {
            type: 'array',
            items: { type: 'object', properties: { at: { type: 'string', format: 'date-time' }, versions: counts } },
          },
        },
      },
      steps: {
        type: 'array',
        description:
          "Each started step with the target's gate numbers as they stood when it ended (endedAt null: still running, numbers as of now).",
        items: {
          type: 'object',
          properties: {
            step: { type: 'integer' },
            percent: { type: 'number' },
            startedAt: { type: 'string', format: 'date-time' },
            endedAt: { type: ['string', 'null'], format: 'date-time' },
            maxFailureRate: { type: 'number' },
            minDevices: { type: 'integer' },
            stats: {
              type: 'object',
              properties: {
                devices: { type: 'integer' },
                healthy: { type: 'integer' },
                reverted: { type: 'integer' },
                failed: { type: 'integer' },
                refused: { type: 'integer' },
              },
            },
          },
        },
      },
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
