import { ServerError } from '../common/errors';

/** How a command talks back: human text on a TTY, one JSON document with --json. */
export interface Output {
  json: boolean;
  result(value: unknown, human: () => string): void;
  progress(line: string): void;
}

export function createOutput(json: boolean): Output {
  const tty = process.stderr.isTTY;
  let live = false;
  return {
    json,
    result(value, human) {
      if (live) process.stderr.write('\n');
      live = false;
      process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
    },
    // Progress goes to stderr so stdout stays clean for scripts.
    progress(line) {
      if (tty) {
        process.stderr.write(`\r\x1b[2K${line}`);
        live = true;
      } else {
        process.stderr.write(`${line}\n`);
      }
    },
  };
}

/** Exit codes: 2 for bad input, 1 for everything else that went wrong. */
export function reportError(err: unknown, json: boolean): number {
  const code = errorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  if (json) process.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`);
  else process.stderr.write(`error [${code}]: ${message}\n`);
  return code === 'INVALID_INPUT' ? 2 : 1;
}

function errorCode(err: unknown): string {
  if (err instanceof ServerError) return err.code;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : 'ERROR';
}

/** Calls `fn` only when the whole percent changes, so progress lines stay few. */
export function perPercent(fn: (sent: number, total: number) => void): (sent: number, total: number) => void {
  let last = -1;
  return (sent, total) => {
    const pct = total > 0 ? Math.floor((sent / total) * 100) : 100;
    if (pct !== last) {
      last = pct;
      fn(sent, total);
    }
  };
}

export function progressBar(done: number, total: number, width = 30): string {
  const ratio = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(ratio * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(ratio * 100).toFixed(0).padStart(3)}% ${formatBytes(done)}/${formatBytes(total)}`;
}

function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}
