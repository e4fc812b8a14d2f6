import { CHECKS, LOG_SOURCES, OPERATOR_ROLES, OPS_ACTIONS } from '../common/adminApi';
import { STAGES } from '../common/release';

/**
 * Response schemas: the wire types of common/adminApi.ts (and the device answers) as JSON
 * Schema, for the OpenAPI document. Schemathesis checks every answer against them in
 * `npm test` (test/integration/security/fuzzApi.test.ts), so a shape change that is not
 * made here too fails there. Objects stay open (no additionalProperties: false): a new
 * field is not a break for a client.
 */
const text = { type: 'string' };
const int = { type: 'integer' };
const num = { type: 'number' };
const bool = { type: 'boolean' };
const nullable = (schema: { type: string }) => ({ ...schema, type: [schema.type, 'null'] });
const strings = { type: 'array', items: text };
const obj = (required: readonly string[], properties: Record<string, unknown>) => ({
  type: 'object',
  required,
  properties,
});

const operator = obj(['name', 'roles'], {
  name: text,
  roles: { type: 'array', items: { type: 'string', enum: OPERATOR_ROLES } },
});
const targetStats = obj(['devices', 'healthy', 'reverted', 'failed', 'refused'], {
  devices: int,
  healthy: int,
  reverted: int,
  failed: int,
  refused: int,
  blocked: int,
});
const kind = obj(['installs', 'bytes'], { installs: int, bytes: int });
const delivery = obj(['delta', 'full', 'deltaRefused', 'savedBytes', 'savedPercent'], {
  delta: kind,
  full: kind,
  deltaRefused: int,
  savedBytes: int,
  savedPercent: num,
});
const targeting = {
  type: 'object',
  properties: {
    attestationRequired: bool,
    protected: bool,
    groups: strings,
    tags: { type: 'object', additionalProperties: text },
  },
};
const step = obj(['percent', 'bakeTimeMs', 'minDevices', 'maxFailureRate', 'gate'], {
  percent: num,
  bakeTimeMs: int,
  minDevices: int,
  maxFailureRate: num,
  gate: { type: 'string', enum: ['auto', 'approval'] },
});
const offer = { oneOf: [{ type: 'null' }, obj(['targetName', 'version'], { targetName: text, version: text })] };

const device = obj(
  [
    'deviceId',
    'hardwareId',
    'channel',
    'status',
    'groups',
    'tags',
    'currentVersion',
    'certSerial',
    'certNotAfter',
    'enrolledAt',
    'revokedAt',
    'lastReportAt',
    'attestation',
  ],
  {
    deviceId: text,
    hardwareId: nullable(text),
    channel: nullable(text),
    status: { type: 'string', enum: ['reported', 'enrolled', 'revoked'] },
    groups: strings,
    tags: { type: 'object', additionalProperties: text },
    currentVersion: text,
    certSerial: nullable(text),
    certNotAfter: nullable(text),
    enrolledAt: nullable(text),
    revokedAt: nullable(text),
    lastReportAt: text,
    attestation: {
      oneOf: [
        { type: 'null' },
        obj(['verifiedAt', 'passed', 'reason'], { verifiedAt: text, passed: bool, reason: text, measurements: {} }),
      ],
    },
  },
);

const releaseStatus = obj(
  [
    'releaseId',
    'version',
    'channel',
    'hardwareIds',
    'stage',
    'lifecycle',
    'percent',
    'paused',
    'withdrawn',
    'awaitingApproval',
    'waitingFor',
    'steps',
    'stepIndex',
    'approvals',
    'approvalsRequired',
    'createdBy',
    'plan',
    'history',
  ],
  {
    releaseId: text,
    version: text,
    channel: text,
    hardwareIds: strings,
    stage: { type: 'string', enum: STAGES },
    lifecycle: { type: 'string', enum: ['draft', 'validation', 'limited-rollout', 'stable', 'ended'] },
    percent: num,
    published: obj(['percent', 'paused', 'withdrawn', 'at'], { percent: num, paused: bool, withdrawn: bool, at: text }),
    paused: bool,
    withdrawn: bool,
    awaitingApproval: bool,
    waitingFor: text,
    steps: { type: 'array', items: step },
    stepIndex: int,
    approvals: {
      type: 'array',
      items: obj(['approver', 'at', 'decision'], {
        approver: text,
        comment: text,
        at: text,
        round: text,
        decision: { type: 'string', enum: ['approve', 'reject'] },
      }),
    },
    approvalsRequired: int,
    gate: obj(['step', 'percent', 'reports', 'failures', 'failureRate', 'result'], {
      step: int,
      percent: num,
      minDevices: int,
      maxFailureRate: num,
      reports: int,
      failures: int,
      blocked: int,
      failureRate: num,
      result: { type: 'string', enum: ['waiting', 'passed', 'tripped'] },
    }),
    createdBy: text,
    plan: text,
    target: obj(['name', 'length', 'sha256', 'custom'], {
      name: text,
      length: int,
      sha256: text,
      custom: { type: 'object' },
      targeting,
    }),
    history: { type: 'array', items: obj(['at', 'action'], { at: text, action: text, actor: text, detail: text }) },
    error: obj(['code', 'message'], { code: text, message: text }),
  },
);

const roleFreshness = obj(['role', 'version', 'expires', 'hoursLeft', 'expiresSoon'], {
  role: { type: 'string', enum: ['root', 'targets', 'snapshot', 'timestamp'] },
  version: int,
  expires: text,
  hoursLeft: num,
  expiresSoon: bool,
  highestSeen: int,
  partition: text,
});
const watermark = obj(['repo', 'role', 'version', 'seenAt'], {
  // The repository, or one of its partitions (`rollout/p/CHANNEL/HARDWARE`).
  repo: { type: 'string', pattern: '^(release|rollout)(/p/[^/]+/[^/]+)?$' },
  role: { type: 'string', enum: ['timestamp', 'snapshot', 'targets'] },
  version: int,
  seenAt: text,
  lastRollback: obj(['at', 'version'], { at: text, version: int }),
});

export const responseSchemas = {
  Health: obj(['ok'], { ok: { const: true } }),
  Certificate: obj(['certificate', 'deviceId', 'notAfter'], {
    certificate: { type: 'string', description: 'PEM' },
    deviceId: text,
    notAfter: { type: 'string', format: 'date-time' },
  }),
  Nonce: obj(['nonce', 'expiresInMs'], { nonce: text, expiresInMs: int }),
  AttestationVerdict: obj(['passed'], {
    passed: bool,
    reason: text,
    error: obj(['code', 'message'], { code: text, message: text }),
  }),
  Operator: operator,
  OperatorRows: {
    type: 'array',
    items: obj(['name', 'roles', 'createdBy', 'createdAt', 'revokedAt'], {
      ...operator.properties,
      createdBy: text,
      createdAt: text,
      revokedAt: nullable(text),
    }),
  },
  OperatorCreated: obj(['operator', 'token'], { operator, token: { type: 'string', description: 'Shown once' } }),
  OperatorRevoked: obj(['revoked'], { revoked: text }),
  WebhookSubscriptions: {
    type: 'array',
    items: obj(['id', 'url', 'types', 'createdBy', 'createdAt', 'pending', 'dead', 'delivered'], {
      id: int,
      url: text,
      types: strings,
      channel: text,
      createdBy: text,
      createdAt: text,
      pending: int,
      dead: int,
      delivered: int,
    }),
  },
  WebhookCreated: obj(['id', 'url', 'types', 'secret'], {
    id: int,
    url: text,
    types: strings,
    channel: text,
    secret: { type: 'string', description: 'Standard Webhooks signing secret (whsec_...), shown once' },
  }),
  WebhookRemoved: obj(['removed'], { removed: int }),
  WebhookDeliveries: {
    type: 'array',
    items: obj(['id', 'subscriptionId', 'eventId', 'type', 'subject', 'eventAt', 'state', 'attempts'], {
      id: int,
      subscriptionId: int,
      eventId: int,
      type: text,
      subject: text,
      eventAt: text,
      state: { type: 'string', enum: ['pending', 'delivered', 'dead'] },
      attempts: int,
      nextAt: text,
      lastAt: text,
      lastStatus: int,
      lastError: text,
      deliveredAt: text,
    }),
  },
  Redelivering: obj(['redelivering'], { redelivering: { type: 'array', items: int } }),
  EventsRecorded: obj(['recorded'], { recorded: int }),
  LogCheckpoint: obj(['checkpoint', 'pending'], { checkpoint: text, pending: int }),
  LogEntries: obj(['from', 'entries'], { from: int, entries: strings }),
  LogProof: obj(['hashes'], { hashes: strings }),
  LogProofs: obj(['checkpoint', 'index', 'inclusion', 'consistency'], {
    checkpoint: text,
    index: int,
    inclusion: text,
    consistency: text,
  }),
  LogSources: obj(['rows'], {
    rows: {
      type: 'array',
      items: obj(['source', 'id', 'leaf'], {
        source: { type: 'string', enum: [...LOG_SOURCES] },
        id: int,
        leaf: text,
      }),
    },
  }),
  DocumentStored: obj(['kind', 'sha256', 'length', 'format', 'components', 'subjects'], {
    kind: { type: 'string', enum: ['sbom', 'provenance'] },
    sha256: text,
    length: int,
    format: { type: 'string', enum: ['cyclonedx', 'spdx', 'in-toto'] },
    components: int,
    subjects: strings,
  }),
  ComponentMatches: {
    type: 'array',
    items: obj(['channel', 'version', 'component', 'devices'], {
      channel: text,
      version: text,
      component: obj(['name', 'version'], { name: text, version: text, purl: text }),
      devices: int,
    }),
  },
  AuditRows: {
    type: 'array',
    items: obj(['id', 'at', 'actor', 'action', 'subject', 'outcome'], {
      id: int,
      at: text,
      actor: text,
      action: text,
      subject: text,
      reason: nullable(text),
      outcome: { type: 'string', enum: ['pending', 'ok', 'refused', 'failed'] },
      detail: nullable(text),
    }),
  },
  EnrollmentTokenIssued: obj(['deviceId', 'token', 'expiresAt'], {
    deviceId: text,
    token: { type: 'string', description: 'Shown once' },
    expiresAt: text,
  }),
  Device: device,
  Devices: { type: 'array', items: device },
  DeviceDetail: {
    allOf: [
      device,
      obj(['reports'], {
        reports: {
          type: 'array',
          items: obj(['at', 'version', 'outcome'], {
            at: text,
            targetName: nullable(text),
            version: text,
            outcome: { type: 'string', enum: ['installed', 'refused', 'failed'] },
            health: { type: ['string', 'null'], enum: ['healthy', 'reverted', null] },
            errorCode: nullable(text),
            message: nullable(text),
          }),
        },
      }),
    ],
  },
  Explanation: obj(['deviceId', 'version', 'targetName', 'eligible', 'checks', 'offer'], {
    deviceId: text,
    version: text,
    targetName: nullable(text),
    eligible: bool,
    checks: {
      type: 'array',
      items: obj(['check', 'ok', 'reason'], {
        check: { type: 'string', enum: ['release', ...CHECKS] },
        ok: bool,
        reason: text,
      }),
    },
    offer,
  }),
  MetadataWatermarks: { type: 'array', items: watermark },
  StorageAccepted: obj(['repo', 'cleared'], { repo: text, cleared: { type: 'array', items: watermark } }),
  MetadataStatus: obj(['repositories', 'schedule', 'watermarks', 'healthy', 'problems'], {
    repositories: obj(['release', 'rollout'], {
      release: { type: 'array', items: roleFreshness },
      rollout: { type: 'array', items: roleFreshness },
    }),
    schedule: obj(['exists', 'paused'], {
      exists: bool,
      paused: bool,
      note: text,
      lastRun: obj(['startedAt', 'workflowId', 'status'], { startedAt: text, workflowId: text, status: text }),
      nextRunAt: text,
    }),
    watermarks: { type: 'array', items: watermark },
    healthy: bool,
    problems: strings,
  }),
  Upload: obj(['uploadKey', 'fileName', 'size'], { uploadKey: text, fileName: text, size: int }),
  ReleaseCreated: obj(['releaseId', 'intakeKey'], { releaseId: text, intakeKey: text }),
  ReleaseList: {
    type: 'array',
    items: obj(['releaseId', 'version', 'channel', 'stage', 'percent', 'awaitingApproval', 'status', 'startedAt'], {
      releaseId: text,
      version: text,
      channel: text,
      stage: text,
      percent: num,
      awaitingApproval: bool,
      status: text,
      startedAt: text,
    }),
  },
  ResolvedChannel: obj(['channel'], { channel: text }),
  ReleaseStatus: releaseStatus,
  ReleaseStatusWithDevices: {
    allOf: [releaseStatus, { type: 'object', properties: { devices: targetStats, delivery } }],
  },
  OpsActions: { type: 'string', enum: OPS_ACTIONS },
} as const;
