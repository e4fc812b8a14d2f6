import { join } from 'node:path';

import type { Config } from '../../infra/config';
import { LOG_KEY_LABEL } from '../../trust/logKey';
import { httpOk, type ProcessManager } from './processes';

/**
 * Starts the transparency log (scripts/tlog: Tessera on the stack's disk, its checkpoint key in
 * the signing token; built by setup), or finds it running. Its data is under <home>/tlog and
 * survives restarts.
 */
export async function startLogServer(
  pm: ProcessManager,
  s: { home: string; port: number; config: Config; pin: string },
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
