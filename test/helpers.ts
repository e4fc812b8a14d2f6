import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { DeviceAgent } from '@enigm-ota/client-sdk';
import { loadTrustedRoots, simulatedDevice, type SimulatedDevice, type TrustedRoots } from '../cli/fleet';
import type { Client } from '@temporalio/client';
import { approveRelease, waitForStatus } from '../cli/releases';
import { connectClient } from '../cli/temporal';
import type { ReleaseStatus } from '../common/release';
import { loadConfig, type Config } from '../infra/config';

const run = promisify(execFile);
const ROOT = resolve(__dirname, '..', '..');

export function testConfig(): Config {
  return loadConfig(process.env);
}

let client: Client | undefined;
export async function temporalClient(): Promise<Client> {
  client ??= await connectClient(testConfig());
  return client;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json: any;
}

/** Runs the real `ota` CLI as a separate process, as an operator would. */
export async function ota(...args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [join(ROOT, 'dist', 'cli', 'main.js'), ...args], { env: process.env });
    return { code: 0, stdout, stderr, json: parse(stdout) };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr, json: parse(e.stdout) };
  }
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export async function artifactFile(name: string, bytes = 256 * 1024): Promise<string> {
  const dir = join(testConfig().home, 'builds');
  await mkdir(dir, { recursive: true });
  const file = join(dir, name);
  await writeFile(file, randomBytes(bytes));
  return file;
}

/** Creates a release through the CLI and waits until it asks for approval. */
export async function releaseAwaitingApproval(
  channel: string,
  version: string,
  opts: { hardware?: string; steps?: string; bake?: string; rollbackIndex?: number; plan?: string; as?: string } = {},
): Promise<ReleaseStatus> {
  const file = await artifactFile(`fw-${channel}-${version}.bin`);
  // plan '' means: no plan flags, the channel's own plan applies.
  const plan = opts.plan !== undefined ? (opts.plan ? ['--plan', opts.plan] : []) : ['--steps', opts.steps ?? '100', '--bake', opts.bake ?? '0s'];
  const created = await ota(
    'release', 'create', '--artifact', file, '--version', version, '--channel', channel,
    '--hardware', opts.hardware ?? 'devkit-a', ...plan, '--as', opts.as ?? 'test-creator',
    '--rollback-index', String(opts.rollbackIndex ?? 1), '--json',
  );
  if (created.code !== 0) throw new Error(`ota release create failed: ${created.stdout}${created.stderr}`);
  return waitForStatus(await temporalClient(), channel, version, (s) => s.stage === 'approval');
}

export async function approve(channel: string, version: string): Promise<ReleaseStatus> {
  return approveRelease(await temporalClient(), channel, version, { approver: 'test-owner', comment: 'tests' });
}

/** A provisioned test device with its own folder (today's roots unless given); options reach the SDK as they are. */
export async function device(
  id: string,
  channel: string,
  options: Partial<Omit<SimulatedDevice, 'deviceId' | 'channel'>> = {},
  roots?: TrustedRoots,
): Promise<DeviceAgent> {
  const config = testConfig();
  return simulatedDevice(config, roots ?? (await loadTrustedRoots(config)), {
    deviceId: id,
    channel,
    hardwareId: 'devkit-a',
    stateDir: join(config.home, 'test-devices', id),
    ...options,
  });
}


export async function postJson(path: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${testConfig().api.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => undefined) };
}

export async function closeTemporalClient(): Promise<void> {
  await client?.connection.close();
  client = undefined;
}
