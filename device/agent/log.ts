import { LOG_LEVELS, type LogLevel } from './configSchema';

/** One event: a name and flat fields (strings, numbers, booleans); never a secret. */
type LogFields = Record<string, string | number | boolean | undefined>;

export interface AgentLog {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}

export interface LogOptions {
  level: LogLevel;
  /** Where each line goes (stdout for journald). */
  write: (line: string) => void;
  /** Values that must never appear in a line (the enrollment token): replaced wherever they occur. */
  secrets?: string[];
  now?: () => Date;
}

/** Longest field value written: an error text from anywhere must not flood the journal. */
export const MAX_LOG_FIELD = 1000;

/**
 * Structured logs: one JSON object per line, `time`, `level`, `event` first, so journald
 * keeps one entry per event and `journalctl -o cat | jq` reads them.
 */
export function createLog(options: LogOptions): AgentLog {
  const lowest = LOG_LEVELS.indexOf(options.level);
  const secrets = (options.secrets ?? []).filter((s) => s.length >= 8);
  const line = (level: LogLevel, event: string, fields: LogFields = {}) => {
    if (LOG_LEVELS.indexOf(level) < lowest) return;
    const entry: Record<string, unknown> = { time: (options.now?.() ?? new Date()).toISOString(), level, event };
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined) continue;
      entry[k] = typeof v === 'string' ? redact(v.slice(0, MAX_LOG_FIELD), secrets) : v;
    }
    options.write(`${JSON.stringify(entry)}\n`);
  };
  return {
    debug: (e, f) => line('debug', e, f),
    info: (e, f) => line('info', e, f),
    warn: (e, f) => line('warn', e, f),
    error: (e, f) => line('error', e, f),
  };
}

function redact(text: string, secrets: string[]): string {
  return secrets.reduce((t, s) => t.split(s).join('[redacted]'), text);
}

/** A log that writes nothing (a simulated fleet of thousands of devices). */
export const silentLog: AgentLog = createLog({ level: 'error', write: () => undefined });
