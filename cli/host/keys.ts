import { REPOSITORIES, type RepositoryName } from '@enigm-ota/client-sdk';

import { InputError } from '../../common/errors';
import { AdminApiClient } from '../../infra/adminApiClient';
import { type Config, requireHsmPin } from '../../infra/config';
import { Hsm } from '../../infra/hsm';
import { Storage } from '../../infra/storage';
import { ApiFloor } from '../../trust/apiFloor';
import { type CeremonyOptions, checkCeremonyOptions, DEFAULT_CEREMONY, runCeremony } from '../../trust/ceremony';
import { changeKeys, type KeyChange, type KeyChangeResult, listKeys } from '../../trust/keyChanges';
import { shortKeyId, type TufRole } from '../../trust/keyring';
import { ensureLogKey } from '../../trust/logKey';
import { type Invocation, required } from '../args';

export interface KeyFlags {
  'root-key'?: string[];
  'root-keys'?: string;
  'root-threshold'?: string;
  'release-keys'?: string;
  'release-threshold'?: string;
}

/** `ota keys ...`: the ceremony and every later change to the roots. Each opens the HSM once. */
export async function keys(config: Config, call: Invocation<KeyFlags>): Promise<number> {
  const { command, args, flags, out } = call;
  const hsm = Hsm.open(config.hsm, requireHsmPin(config));
  const storage = new Storage(config.minio);
  try {
    if (command === 'init') return await init(config, { hsm, storage }, call);
    if (command === 'log') return await logKey(config, hsm, call);
    if (command === 'list') {
      const repos = args[0] === undefined ? REPOSITORIES : [repository(args[0])];
      const listed: Array<Awaited<ReturnType<typeof listKeys>>> = [];
      for (const repo of repos) listed.push(await listKeys({ config, hsm, storage }, repo));
      out.result(listed, () => listed.map(describeListed).join('\n'));
      return 0;
    }
    const change = parseChange(command, args);
    // S-25: the change builds only on storage at the servers' watermarks, and what it
    // publishes raises them before it reports success.
    const api = AdminApiClient.fromConfig(config);
    try {
      const result = await changeKeys(
        { config, hsm, storage, rootKeyFiles: flags['root-key'], floor: new ApiFloor(api) },
        repository(args[0]),
        change,
      );
      out.result(result, () => describeChange(result));
    } finally {
      await api.close();
    }
    return 0;
  } finally {
    hsm.close();
  }
}

async function init(
  config: Config,
  { hsm, storage }: { hsm: Hsm; storage: Storage },
  { flags, out }: Invocation<KeyFlags>,
): Promise<number> {
  const options: CeremonyOptions = {
    rootKeys: count(flags['root-keys'], DEFAULT_CEREMONY.rootKeys),
    rootThreshold: count(flags['root-threshold'], DEFAULT_CEREMONY.rootThreshold),
    releaseKeys: count(flags['release-keys'], DEFAULT_CEREMONY.releaseKeys),
    releaseThreshold: count(flags['release-threshold'], DEFAULT_CEREMONY.releaseThreshold),
  };
  checkCeremonyOptions(options);
  // The API's TLS certificate is issued for these host names.
  const result = await runCeremony(config, { hsm, storage, options, apiHosts: config.api.tlsHosts });
  out.result(result, () =>
    [
      `trusted roots (provision devices with these): ${Object.values(result.rootFiles).join(', ')}`,
      result.created.length ? `created: ${result.created.join(', ')}` : 'nothing to create: both repositories exist',
      `fleet CA: ${result.fleetCa}${result.fleetCaCreated ? ' (created; provision devices with it)' : ''}, key in HSM token ${config.hsm.fleetCaToken}`,
      `RAUC keyring: ${result.bundleKeyring}${result.bundleSigningCreated ? ' (created; provision devices with it as /etc/rauc/keyring.pem)' : ''}`,
      ...result.offlineKeyFiles.map((f) => `offline root key: ${f}  -> store offline, then delete it here`),
    ].join('\n'),
  );
  return 0;
}

/** The transparency log's key, made in the token once; its verifier key written where it is pinned from. */
async function logKey(config: Config, hsm: Hsm, { out }: Invocation<KeyFlags>): Promise<number> {
  if (!config.transparency)
    throw new InputError('no transparency log is configured: set OTA_TLOG_URL and OTA_TLOG_WRITE_TOKEN');
  const verifierKey = await ensureLogKey(hsm, config.transparency);
  const file = config.transparency.keyFile;
  out.result(
    { verifierKey, file },
    () => `transparency log key: ${verifierKey}\nin ${file}: devices, witnesses and auditors pin it`,
  );
  return 0;
}

function parseChange(command: string | undefined, args: string[]): KeyChange {
  if (command === 'partition') {
    if (args.length !== 1) throw new InputError('usage: ota keys partition REPOSITORY');
    return { kind: 'partition', role: 'root' };
  }
  const role = args[1] as TufRole;
  if (args[1] === undefined) throw new InputError(`usage: ota keys ${command ?? 'COMMAND'} REPOSITORY ROLE ...`);
  if (command === 'add' || command === 'rotate') return { kind: command, role };
  if (command === 'revoke') return { kind: 'revoke', role, keyID: required(args[2], 'KEYID') };
  if (command === 'threshold') {
    const threshold = Number(required(args[2], 'N'));
    if (!Number.isInteger(threshold)) throw new InputError('the threshold is a whole number');
    return { kind: 'threshold', role, threshold };
  }
  throw new InputError(`unknown keys command: ${command ?? ''} (ota --help)`);
}

function repository(name: string | undefined): RepositoryName {
  if (!REPOSITORIES.includes(name as RepositoryName))
    throw new InputError(`repository must be one of ${REPOSITORIES.join(', ')}`);
  return name as RepositoryName;
}

function count(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new InputError(`${value} is not a whole number`);
  return Number(value);
}

function describeChange(r: KeyChangeResult): string {
  return [
    `${r.repository} root version ${r.rootVersion} published; ${r.role}: ${r.threshold} of [${r.keyIDs.map(shortKeyId).join(', ')}]`,
    ...r.added.map((id) => `added ${shortKeyId(id)}`),
    ...r.removed.map((id) => `removed ${shortKeyId(id)}`),
    ...r.offlineKeyFiles.map((f) => `offline root key: ${f}  -> store offline, then delete it here`),
    ...(r.partitions
      ? [
          `partitioned: ${r.partitions.length} partition(s) written (${r.partitions.slice(0, 10).join(', ')}${r.partitions.length > 10 ? ', ...' : ''}); devices follow the new root into their own`,
        ]
      : []),
  ].join('\n');
}

function describeListed(k: Awaited<ReturnType<typeof listKeys>>): string {
  const lines = [`${k.repository} repository: root version ${k.rootVersion}, expires ${k.expires}`];
  for (const r of k.roles) {
    lines.push(
      `  ${r.role.padEnd(9)} ${r.threshold} of ${r.keys.length}: ${r.keys.map((key) => `${shortKeyId(key.keyID)} (${key.location})`).join(', ')}`,
    );
  }
  return lines.join('\n');
}
