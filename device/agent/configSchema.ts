/**
 * Every key of the agent's configuration file, in one table: the parser checks a file
 * against it (config.ts) and docs/agent-config.md is rendered from it (configDocs.ts), so
 * the documentation cannot drift from what the agent accepts.
 */
type KeyType = 'string' | 'url' | 'path' | 'integer' | 'number' | 'boolean' | 'enum' | 'names' | 'argv' | 'commands';

export interface KeySpec {
  /** Dotted path in the JSON file (`health.deadlineSec` is `{"health": {"deadlineSec": ...}}`). */
  key: string;
  type: KeyType;
  required?: boolean;
  /** Absent keys take this value (what the docs show as the default). */
  default?: string | number | boolean | readonly string[] | readonly HealthCommand[];
  /** Inclusive bounds of a number, or of a string's length. */
  min?: number;
  max?: number;
  pattern?: RegExp;
  values?: readonly string[];
  doc: string;
}

export interface HealthCommand {
  argv: string[];
  timeoutSec: number;
}

const INSTALLER_BACKENDS = ['reference', 'rauc'] as const;
export type InstallerBackend = (typeof INSTALLER_BACKENDS)[number];
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The largest configuration file the agent reads: it is parsed before anything is trusted. */
export const MAX_CONFIG_BYTES = 64 * 1024;
/** Bounds of a command line in the file (health checks, hooks). */
export const MAX_ARGS = 64;
export const MAX_ARG_LENGTH = 4096;
export const MAX_HEALTH_COMMANDS = 16;
/** Bounds of a list of names (the device's groups). */
export const MAX_NAMES = 16;
export const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const HOUR = 3600;

export const CONFIG_KEYS: readonly KeySpec[] = [
  {
    key: 'apiUrl',
    type: 'url',
    required: true,
    doc: 'The update API, `https://` only (mutual TLS with the fleet CA).',
  },
  {
    key: 'deviceId',
    type: 'string',
    required: true,
    pattern: /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/,
    doc: 'The device id its enrollment token was issued for.',
  },
  {
    key: 'hardwareId',
    type: 'string',
    required: true,
    pattern: /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
    doc: 'The hardware id a release must list to be installed here.',
  },
  {
    key: 'channel',
    type: 'string',
    required: true,
    pattern: /^[a-z0-9][a-z0-9-]{0,31}$/,
    doc: 'The release channel the device follows.',
  },
  {
    key: 'stateDir',
    type: 'path',
    default: '/var/lib/enigm-ota',
    doc: 'The agent state directory: trusted metadata, identity, state.json, downloads, lock and last cycle (see below). Must survive updates: the data partition.',
  },
  {
    key: 'identity.fleetCaFile',
    type: 'path',
    default: '/etc/enigm-ota/fleet-ca.pem',
    doc: 'The fleet CA certificate (PEM, factory-provisioned) the API certificate must chain to.',
  },
  {
    key: 'identity.enrollmentTokenFile',
    type: 'path',
    default: '/etc/enigm-ota/enrollment-token',
    doc: 'The one-time enrollment token, read only at the first start (no certificate yet in `<stateDir>/identity`). Never logged; delete it once enrolled.',
  },
  {
    key: 'identity.releaseRootFile',
    type: 'path',
    default: '/etc/enigm-ota/release-root.json',
    doc: "The release repository's trusted root.json from the key ceremony; used only until the state directory holds a newer one.",
  },
  {
    key: 'identity.rolloutRootFile',
    type: 'path',
    default: '/etc/enigm-ota/rollout-root.json',
    doc: "The rollout repository's trusted root.json from the key ceremony; used only until the state directory holds a newer one.",
  },
  {
    key: 'transparencyLog.keyFile',
    type: 'path',
    doc: "The transparency log's verifier key from the key ceremony (`transparency-log.vkey`). Set: every timestamp the device trusts must be proved in the log, in one history with every checkpoint it saw before (a split view is refused). Absent: not checked.",
  },
  {
    key: 'transparencyLog.witnessesFile',
    type: 'path',
    doc: 'Witness verifier keys (one per line, `<name>+<hash>+<key>`, cosignature/v1) whose cosignatures count towards `transparencyLog.quorum`.',
  },
  {
    key: 'transparencyLog.quorum',
    type: 'integer',
    default: 0,
    min: 0,
    max: 16,
    doc: 'How many of the witnesses in `transparencyLog.witnessesFile` must cosign each checkpoint the device accepts.',
  },
  {
    key: 'factory.version',
    type: 'string',
    default: '0.0.0',
    pattern: /^\d{1,9}\.\d{1,9}\.\d{1,9}(-[0-9A-Za-z.-]{1,64})?$/,
    doc: 'The version of the factory image, until the agent has installed one.',
  },
  {
    key: 'factory.rollbackIndex',
    type: 'integer',
    default: 0,
    min: 0,
    max: 2 ** 31 - 1,
    doc: 'The rollback index of the factory image.',
  },
  {
    key: 'installer.backend',
    type: 'enum',
    required: true,
    values: INSTALLER_BACKENDS,
    doc: '`rauc`: RAUC bundles into the inactive slot, the bootloader switches. `reference`: folders as slots, for simulators and tests only.',
  },
  {
    key: 'installer.referenceDir',
    type: 'path',
    doc: 'The `reference` backend only: where its slots live (default `<stateDir>/system`).',
  },
  {
    key: 'installer.raucBinary',
    type: 'path',
    default: '/usr/bin/rauc',
    doc: "The `rauc` backend only: the `rauc` program, which talks to RAUC's service on the system D-Bus.",
  },
  {
    key: 'installer.raucSystemConfig',
    type: 'path',
    doc: "The `rauc` backend only: RAUC's system configuration, passed as `--conf` (default: RAUC's own, `/etc/rauc/system.conf`).",
  },
  {
    key: 'health.commands',
    type: 'commands',
    default: [],
    doc: `Commands a new version must pass before it is marked good: \`[{"argv": ["/usr/bin/check"], "timeoutSec": 60}]\`, run in order without a shell; a non-zero exit or a timeout fails the boot. At most ${MAX_HEALTH_COMMANDS} commands, ${MAX_ARGS} arguments of ${MAX_ARG_LENGTH} characters; \`timeoutSec\` 1..${HOUR} (default 60).`,
  },
  {
    key: 'health.deadlineSec',
    type: 'integer',
    default: 300,
    min: 10,
    max: 24 * HOUR,
    doc: "The `reference` backend: the whole health check (every command, and the confirmation) must end within this; silence counts as a failed boot. The `rauc` backend bounds each command by its own `timeoutSec` and the check-in by 60 s; a boot that never confirms is abandoned by the bootloader's try counter.",
  },
  {
    key: 'groups',
    type: 'names',
    default: [],
    doc: `The target groups the fleet put this device in: a release's signed install windows that name groups apply only to devices in one of them (D-19). At most ${MAX_NAMES} names matching \`${String(NAME)}\`.`,
  },
  {
    key: 'readiness.command',
    type: 'argv',
    doc: 'Asked (no shell) before each download: exit code 0 means ready, anything else or no answer in `readiness.timeoutSec` means "not now" (battery, a user at work). The device reports it waits, and asks again on a backoff from 30 s doubling to 30 min.',
  },
  {
    key: 'readiness.timeoutSec',
    type: 'integer',
    default: 30,
    min: 1,
    max: 600,
    doc: 'A readiness command still running then is killed and counts as "not now".',
  },
  {
    key: 'network.metered',
    type: 'boolean',
    default: false,
    doc: 'The device is on a metered network (paid by the byte): `network.deltasOnly` and `network.dailyByteBudget` apply.',
  },
  {
    key: 'network.meteredCommand',
    type: 'argv',
    doc: 'Instead of `network.metered`: asked (no shell, 10 s at most) before each download; exit code 0 means metered now, any other exit means not metered; no answer counts as metered.',
  },
  {
    key: 'network.deltasOnly',
    type: 'boolean',
    default: false,
    doc: 'On a metered network, install only when a signed delta applies; otherwise wait (reported as `metered`).',
  },
  {
    key: 'network.dailyByteBudget',
    type: 'integer',
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
    doc: 'On a metered network, at most this many artifact bytes per UTC day, counted across restarts in `<stateDir>/network-budget.json`; a download that does not fit waits for the next day.',
  },
  {
    key: 'poll.intervalSec',
    type: 'integer',
    default: 300,
    min: 10,
    max: 24 * HOUR,
    doc: 'Time between two update cycles (failed cycles back off on their own schedule).',
  },
  {
    key: 'poll.jitter',
    type: 'number',
    default: 0.2,
    min: 0,
    max: 1,
    doc: 'Share of the interval the wait is spread by, either way, so a fleet started together drifts apart.',
  },
  {
    key: 'hooks.afterInstall',
    type: 'argv',
    doc: 'Run (no shell) after a new version is recorded, with `ENIGM_OTA_VERSION` and `ENIGM_OTA_TARGET` set. Its outcome changes nothing; it is logged.',
  },
  {
    key: 'hooks.afterRefusal',
    type: 'argv',
    doc: 'Run (no shell) after an offered update was refused or failed, with `ENIGM_OTA_TARGET` and `ENIGM_OTA_CODE` set. Its outcome changes nothing; it is logged.',
  },
  {
    key: 'hooks.timeoutSec',
    type: 'integer',
    default: 30,
    min: 1,
    max: 600,
    doc: 'A hook still running then is killed.',
  },
  {
    key: 'limits.maxArtifactBytes',
    type: 'integer',
    default: 4 * 1024 ** 3,
    min: 1,
    max: 4 * 1024 ** 3,
    doc: 'Largest image the device downloads, whatever signed metadata says.',
  },
  {
    key: 'limits.maxApiResponseBytes',
    type: 'integer',
    default: 64 * 1024,
    min: 1024,
    max: 1024 * 1024,
    doc: 'Largest JSON answer accepted from the API.',
  },
  {
    key: 'limits.fetchTimeoutSec',
    type: 'integer',
    default: 30,
    min: 1,
    max: HOUR,
    doc: 'A metadata or artifact request that stalls this long fails (and is resumed later).',
  },
  {
    key: 'log.level',
    type: 'enum',
    default: 'info',
    values: LOG_LEVELS,
    doc: 'Lowest level written to stdout (`debug` adds each durable step of an install).',
  },
];
