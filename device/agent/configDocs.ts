import { CONFIG_KEYS, type KeySpec, MAX_CONFIG_BYTES } from './configSchema';

/**
 * docs/agent-config.md, rendered from the key table (`npm run docs:agent-config` writes it; a
 * unit test fails when the file differs), so the documentation is what the agent accepts.
 */
export function renderConfigDocs(): string {
  return `${[
    '# Agent configuration',
    '',
    '<!-- Generated from device/agent/configSchema.ts by `npm run docs:agent-config`; edit the table there. -->',
    '',
    '`enigm-ota-agent` reads one JSON file: `/etc/enigm-ota/agent.json` unless `--config FILE` names',
    `another. It is checked before anything starts: an unknown key, a missing required key or a value`,
    'out of bounds stops the agent with exit code 2 and one line per problem, each naming its key',
    `(\`deviceId: must match ...\`). The file may be at most ${MAX_CONFIG_BYTES / 1024} KiB. Nested keys are`,
    'nested objects: `health.deadlineSec` is `{"health": {"deadlineSec": 300}}`. An example is',
    '[device/packaging/agent.example.json](../device/packaging/agent.example.json).',
    '',
    '| key | type | default | meaning |',
    '|---|---|---|---|',
    ...CONFIG_KEYS.map(row),
    '',
    '## State directory',
    '',
    '`stateDir` (default `/var/lib/enigm-ota`, on the data partition that survives updates) holds:',
    '',
    '| path | what | written by |',
    '|---|---|---|',
    '| `state.json` | the version that runs, its rollback index, a pending install (D-9, D-10, D-14), the last reverted trials (D-21) | the SDK, durably |',
    '| `metadata/release/`, `metadata/rollout/` | the trusted TUF metadata of both repositories | the SDK |',
    '| `log.json` in `metadata/` | the newest transparency log checkpoint the device verified, and the files it proved in that history (D-22); `status` shows the checkpoint | the SDK, atomically |',
    '| `identity/` | the device key, its certificate and the fleet CA (mode 0600 key) | enrollment, renewal |',
    '| `downloads/`, `deltas/` | partial and verified artifacts and deltas (a download resumes after a restart) | the SDK |',
    "| `system/` | the `reference` backend's slots (`installer.referenceDir`) | the reference installer |",
    '| `agent.lock` | the pid of the process acting on the directory (`run` or `check-now`) | the agent |',
    "| `last-cycle.json` | the last cycle's outcome, as `status` shows it | the agent |",
    '',
    '## Exit codes',
    '',
    '| code | meaning |',
    '|---|---|',
    '| 0 | done; `check-now`: up to date |',
    '| 1 | failed (the API unreachable, another agent holds the state directory, ...) |',
    '| 2 | bad usage or configuration: nothing was started |',
    '| 3 | `check-now`: a new version was installed |',
    '| 4 | `check-now`: the offered update was refused (the code says why) |',
    '| 5 | `check-now`: the device waits (an install window, the readiness hook, the metered network) |',
    '| 6 | `check-now`: a new version was written and the device reboots into it (the trial boot) |',
  ].join('\n')}\n`;
}

function row(s: KeySpec): string {
  const bounds =
    s.min !== undefined ? ` ${s.min}..${s.max}` : s.values ? `: ${s.values.map((v) => `\`${v}\``).join(', ')}` : '';
  const type = `${s.type}${bounds}`;
  const def = s.required ? '**required**' : s.default === undefined ? '' : `\`${JSON.stringify(s.default)}\``;
  return `| \`${s.key}\` | ${type} | ${def} | ${s.doc} |`;
}
