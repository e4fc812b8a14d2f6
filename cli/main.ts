#!/usr/bin/env node
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { InputError } from '../common/errors';
import { AdminApiClient } from '../infra/adminApiClient';
import { type Config, loadConfig } from '../infra/config';
import type { ApiCommand } from './args';
import { deviceCommand } from './deviceCommands';
import { evidenceVerify } from './evidenceCommands';
import { componentsCommand } from './fleetCommands';
// Signing-host commands work on the stack directly (see cli/host/).
import { bundle } from './host/bundle';
import { migrate } from './host/db';
import { keys } from './host/keys';
import { metadataStatus } from './host/metadata';
import { simulate } from './host/simulate';
import { witness } from './host/witness';
import { logCommand } from './logCommands';
import { acceptStorage } from './metadataCommands';
import { auditCommand, operatorCommand } from './operatorCommands';
import { createOutput, reportError } from './output';
import { releaseCommand } from './releaseCommands';
import { webhookCommand } from './webhookCommands';

const USAGE = `ota: operate Enigm OTA releases

  ota release create --artifact FILE --version SEMVER --hardware ID[,ID] --channel NAME
                     [--rollback-index N] [--plan NAME | --security |
                      --steps 10,50,100 --bake 30s [--min-devices 1] [--max-failure-rate 0.1]]
                     [--min-source-version SEMVER] [--attestation-required] [--protected] [--deltas N]
                     [--target-group G ...] [--target-tag key=value ...]
                     [--window "DAYS HH:MM DURATION ZONE [group=G,...]" ...]
                     [--sbom sbom.json] [--provenance provenance.json]
                     (CycloneDX or SPDX JSON; an in-toto statement about this artifact: checked
                      first, their sha256 signed into the release)
                     (e.g. --window "mon-fri 22:00 6h Europe/Berlin": devices install only then)
  ota release list     [--channel NAME] [--stage STAGE]
  ota release reject   VERSION [--channel NAME] [--comment TEXT]
  ota release promote  VERSION [--channel NAME] [--reason TEXT]
  ota release abort    VERSION [--channel NAME] [--reason TEXT]
  ota release status   VERSION [--channel NAME]
  ota release approve  VERSION [--channel NAME] [--comment TEXT]
  ota release pause    VERSION [--channel NAME] [--reason TEXT]
  ota release resume   VERSION [--channel NAME] [--reason TEXT]
  ota release rollback VERSION [--channel NAME] [--reason TEXT] [--to EARLIER-VERSION]
  ota release evidence VERSION [--channel NAME] --out FILE.tar
                     (for an auditor: signed metadata, approvals, gate decisions, device receipts,
                      each with its transparency log proof)
  ota evidence verify FILE.tar [--key LOG.vkey] [--fleet-ca FILE] [--release-root FILE] [--rollout-root FILE]
                     (offline: every byte against the log's checkpoint, metadata against the pinned
                      roots, receipts against the fleet CA; defaults from this machine's ceremony folder)

--channel may be left out when only one channel has that version.
  ota device token   DEVICE --hardware ID --channel NAME [--group G ...] [--tag k=v ...] [--ttl 24h]
                     (a one-time enrollment token; the device trades it for its certificate)
  ota device list    [--status enrolled|revoked|reported] [--channel NAME] [--group G] [--prefix P]
  ota device show    DEVICE
  ota device revoke  DEVICE [--reason TEXT]   (its certificate is refused from the next request)
  ota device label   DEVICE [--group G ...] [--tag k=v ...]  (replaces its groups and tags)
  ota db migrate                              (apply fleet store migrations; the API also does at start)
  ota device explain DEVICE VERSION           (every eligibility check and its reason)
  ota operator add   NAME --role ROLE[,ROLE]   (roles: admin, release-owner, operator, viewer, worker)
  ota operator list | ota operator revoke NAME
  ota audit          [--actor NAME] [--action PREFIX] [--limit N]
  ota log status  [--key FILE]   (the transparency log's latest checkpoint, checked against its key)
  ota log verify  [--key FILE] [--state FILE]
                  (the log extends the checkpoint kept in --state, its entries make the tree it
                   signed, and every release event, audit entry and receipt is as it was logged)
  ota log witness --key FILE [--name NAME] [--listen 127.0.0.1:7310] [--state FILE] [--log-key FILE]
                  (a witness: cosigns each checkpoint that extends the last one it cosigned;
                   its key is made in FILE on first start, its verifier key written to FILE.vkey)
  ota webhook add    --url URL --event TYPE[,TYPE] [--channel NAME]
                     (admin: events as signed CloudEvents; TYPE: a name, a prefix like release.*, or all;
                      the signing secret is shown once)
  ota webhook list | ota webhook remove ID | ota webhook events
  ota webhook deliveries ID [--state pending|delivered|dead] [--limit N]   (the delivery log)
  ota webhook redeliver  ID [--delivery DID ...]   (send again: these, or every dead one)
  ota metadata status (each role's version and expiry, storage against the highest seen; the freshness schedule)
  ota metadata accept-storage REPOSITORY --reason TEXT
                     (admin: accept a deliberately restored older storage; audited)
  ota keys init      [--root-keys 3 --root-threshold 2 --release-keys 3 --release-threshold 2]
                     (key ceremony: HSM keys, offline roots, first metadata; idempotent)
  ota keys log       (the transparency log's key: made in the HSM once, its verifier key written
                      to the ceremony folder; run before the log starts)
  ota keys list      [REPOSITORY]          (each role's keys, threshold and where the keys are)
  ota keys add       REPOSITORY ROLE       (a new key: in the HSM, or an offline file for root)
  ota keys revoke    REPOSITORY ROLE KEYID (refused if it would leave fewer keys than the threshold)
  ota keys threshold REPOSITORY ROLE N
  ota keys rotate    REPOSITORY ROLE       (replace every key of the role; root: new offline keys)
  ota keys partition REPOSITORY            (move to one file set per channel and hardware: a new root)
                     Root changes take [--root-key FILE ...] (default: the ceremony's offline folder).
                     REPOSITORY: release | rollout; ROLE: root | targets | snapshot | timestamp
  ota bundle create  --image rootfs.ext4 --version SEMVER --compatible STRING --out FILE.raucb [--slot-class rootfs]
                     (a RAUC bundle signed with the ceremony's bundle-signing certificate, checked
                      against its keyring; release it as an ordinary artifact)
  ota fleet components --name NAME [--version-below VERSION]
                     (releases whose SBOM lists the component, and how many devices run each)
  ota fleet simulate --devices N [--channel NAME] [--hardware ID] [--from SEMVER]
                     [--until SEMVER] [--timeout 5m] [--interval 1s] [--fail-rate 0.1]

Every command takes --json (one JSON document on stdout). Release, device, operator, audit and webhook
commands go through the API's admin endpoints as the operator whose token is in OTA_TOKEN;
keys, metadata, bundle and fleet simulate work on the stack directly (the signing host).
Configuration comes from the environment; after \`npm start\` the CLI reads var/stack.env.
Exit codes: 0 ok, 1 failed, 2 invalid input.`;

const OPTIONS = {
  artifact: { type: 'string' },
  version: { type: 'string' },
  hardware: { type: 'string' },
  channel: { type: 'string' },
  'rollback-index': { type: 'string' },
  steps: { type: 'string' },
  bake: { type: 'string' },
  'min-devices': { type: 'string' },
  'max-failure-rate': { type: 'string' },
  plan: { type: 'string' },
  security: { type: 'boolean' },
  stage: { type: 'string' },
  'fail-rate': { type: 'string' },
  to: { type: 'string' },
  comment: { type: 'string' },
  reason: { type: 'string' },
  devices: { type: 'string' },
  from: { type: 'string' },
  until: { type: 'string' },
  timeout: { type: 'string' },
  interval: { type: 'string' },
  group: { type: 'string', multiple: true },
  'min-source-version': { type: 'string' },
  deltas: { type: 'string' },
  'attestation-required': { type: 'boolean' },
  protected: { type: 'boolean' },
  'target-group': { type: 'string', multiple: true },
  window: { type: 'string', multiple: true },
  'target-tag': { type: 'string', multiple: true },
  tag: { type: 'string', multiple: true },
  ttl: { type: 'string' },
  status: { type: 'string' },
  prefix: { type: 'string' },
  limit: { type: 'string' },
  role: { type: 'string', multiple: true },
  actor: { type: 'string' },
  action: { type: 'string' },
  'root-key': { type: 'string', multiple: true },
  'root-keys': { type: 'string' },
  'root-threshold': { type: 'string' },
  'release-keys': { type: 'string' },
  'release-threshold': { type: 'string' },
  image: { type: 'string' },
  compatible: { type: 'string' },
  out: { type: 'string' },
  'slot-class': { type: 'string' },
  url: { type: 'string' },
  sbom: { type: 'string' },
  provenance: { type: 'string' },
  name: { type: 'string' },
  'version-below': { type: 'string' },
  event: { type: 'string', multiple: true },
  delivery: { type: 'string', multiple: true },
  key: { type: 'string' },
  state: { type: 'string' },
  listen: { type: 'string' },
  'log-key': { type: 'string' },
  'fleet-ca': { type: 'string' },
  'release-root': { type: 'string' },
  'rollout-root': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Flags = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

export async function main(argv: string[]): Promise<number> {
  let json = argv.includes('--json');
  try {
    const { values: flags, positionals } = parseArgs({
      args: argv,
      options: OPTIONS,
      allowPositionals: true,
      strict: true,
    });
    json = flags.json ?? false;
    if (flags.help || positionals.length === 0) {
      process.stdout.write(`${USAGE}\n`);
      return positionals.length === 0 && !flags.help ? 2 : 0;
    }
    const out = createOutput(json);
    const [group, command, ...rest] = positionals;
    const config = loadConfig(withStackEnv(process.env));
    const call = { command, args: rest, flags, out };
    const apiCommand = Object.hasOwn(API_COMMANDS, group!) ? API_COMMANDS[group!] : undefined;
    if (apiCommand) return await viaApi(config, (api) => apiCommand(api, call));
    if (group === 'fleet' && command === 'simulate') return await simulate(config, flags, out);
    if (group === 'fleet' && command === 'components')
      return await viaApi(config, (api) => componentsCommand(api, call));
    if (group === 'log' && command === 'witness') return await witness(config, call);
    if (group === 'evidence' && command === 'verify') return await evidenceVerify(config, call);
    if (group === 'log') return await viaApi(config, (api) => logCommand(api, call, config));
    if (group === 'keys') return await keys(config, call);
    if (group === 'bundle') return await bundle(config, call);
    if (group === 'db' && command === 'migrate') return await migrate(config, out);
    if (group === 'metadata' && command === 'status') return await metadataStatus(config, out);
    if (group === 'metadata' && command === 'accept-storage')
      return await viaApi(config, (api) => acceptStorage(api, call));
    throw new InputError(`unknown command: ${positionals.slice(0, 2).join(' ')} (ota --help)`);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))
      return reportError(new InputError((err as Error).message), json);
    return reportError(err, json);
  }
}

/** The command groups that act through the admin API, as the operator the token names. */
const API_COMMANDS: Record<string, ApiCommand<Flags>> = {
  release: releaseCommand,
  device: deviceCommand,
  operator: operatorCommand,
  audit: auditCommand,
  webhook: webhookCommand,
};

async function viaApi(config: Config, run: (api: AdminApiClient) => Promise<number>): Promise<number> {
  const api = AdminApiClient.fromConfig(config);
  try {
    return await run(api);
  } finally {
    await api.close();
  }
}

/** After `npm start`, the stack's settings live in <OTA_HOME>/stack.env; real env wins. */
function withStackEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const home = resolve(env['OTA_HOME'] ?? join(__dirname, '..', '..', 'var'));
  const file = join(home, 'stack.env');
  if (!existsSync(file)) return env;
  const merged: NodeJS.ProcessEnv = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) merged[line.slice(0, i)] = line.slice(i + 1);
  }
  return { ...merged, ...env };
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
