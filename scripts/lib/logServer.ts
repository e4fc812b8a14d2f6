import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import type { Config } from '../../infra/config';
import { LOG_KEY_LABEL } from '../../trust/logKey';
import { httpOk, type ProcessManager } from './processes';

const ROOT = resolve(__dirname, '..', '..', '..');
/** The stack's witness's name, as devices and the log's policy list it. */
const WITNESS_NAME = 'enigm-ota-stack-witness';

/** Where the stack's witness keeps its key (its verifier key is beside it, `.vkey`). */
export function witnessKeyFile(home: string): string {
  return join(home, 'witness', 'witness.key');
}

/**
 * Starts the stack's witness (`ota log witness`), or finds it running: it cosigns each
 * checkpoint the log publishes once it has checked it extends the last one. One witness on the
 * same machine shows the mechanism; a deployment runs its witnesses elsewhere (ADR 0078).
 */
export async function startWitness(
  pm: ProcessManager,
  w: { p: { home: string; witnessPort: number }; keyFile: string; logKeyFile: string },
  log: (line: string) => void,
): Promise<{ url: string; verifierKey: string }> {
  const url = `http://127.0.0.1:${w.p.witnessPort}`;
  const started = await pm.start({
    name: 'witness',
    command: process.execPath,
    args: [
      join(ROOT, 'dist', 'cli', 'main.js'),
      'log',
      'witness',
      '--key',
      w.keyFile,
      '--name',
      WITNESS_NAME,
      '--listen',
      `127.0.0.1:${w.p.witnessPort}`,
      '--log-key',
      w.logKeyFile,
    ],
    env: { OTA_HOME: w.p.home },
    ready: () => httpOk(`${url}/healthz`),
  });
  const verifierKey = (await readFile(`${w.keyFile}.vkey`, 'utf8')).trim();
  log(`witness ${started} (${url}, key ${w.keyFile}.vkey)`);
  return { url, verifierKey };
}

/**
 * Starts the transparency log (scripts/tlog: Tessera on the stack's disk, its checkpoint key in
 * the signing token; built by setup), or finds it running. Its data is under <home>/tlog and
 * survives restarts; it publishes a checkpoint only once the witness cosigned it.
 */
export async function startLogServer(
  pm: ProcessManager,
  s: { home: string; port: number; config: Config; pin: string; witness: { url: string; verifierKey: string } },
  log: (line: string) => void,
): Promise<void> {
  const t = s.config.transparency!;
  const tlog = await pm.start({
    name: 'tlog',
    command: 'tlog',
    args: [],
    env: {
      OTA_TLOG_DIR: join(s.home, 'tlog'),
      OTA_TLOG_ADDRESS: `127.0.0.1:${s.port}`,
      OTA_TLOG_ORIGIN: t.origin,
      OTA_TLOG_KEY_LABEL: LOG_KEY_LABEL,
      OTA_TLOG_WRITE_TOKEN: t.writeToken,
      OTA_TLOG_WITNESSES: `witness ${WITNESS_NAME} ${s.witness.verifierKey} ${s.witness.url}\nquorum ${WITNESS_NAME}\n`,
      OTA_HSM_MODULE: s.config.hsm.module,
      OTA_HSM_TOKEN: s.config.hsm.tokenLabel,
      OTA_HSM_PIN: s.pin,
      // Appends wait for the checkpoint that covers them, and a release signs a file at a time:
      // Tessera's shortest interval keeps releases quick.
      OTA_TLOG_CHECKPOINT_MS: '100',
    },
    ready: () => httpOk(`http://127.0.0.1:${s.port}/healthz`),
  });
  log(`tlog ${tlog} (transparency log ${t.url}, key ${t.keyFile})`);
}
