import type { Logger as TemporalLogger, LogLevel as TemporalLogLevel, LogMetadata } from '@temporalio/common';
import { type DestinationStream, type Logger, type LoggerOptions, pino, stdSerializers } from 'pino';

import type { LogLevel } from './config';

export type { Logger } from 'pino';

/**
 * One JSON object per line on stdout, the same shape for every service:
 * `{"level":"info","time":"…","service":"api",…,"msg":"…"}`. Level names, not pino's
 * numbers, so a log shipper or `jq 'select(.level=="error")'` needs no mapping table.
 */
export function createLogger(service: 'api' | 'worker', level: LogLevel, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    level,
    base: { service, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    // Temporal's SDK puts errors under `error`; serialize them like pino's own `err`.
    serializers: { err: stdSerializers.err, error: stdSerializers.err },
  };
  // A destination only in tests, which read the lines back; services write to stdout without
  // blocking: a line per API request was a write(2) each, a tenth of a device poll's CPU;
  // lines that arrive while one write is under way go out together with the next. pino
  // flushes what is pending when the process exits (a SIGKILL loses those milliseconds).
  return pino(options, destination ?? pino.destination({ dest: 1, sync: false }));
}

const LEVELS: Record<TemporalLogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/**
 * Temporal's Runtime logger interface on top of pino, so the SDK's own messages (and the
 * native core's, when forwarded) come out as the same JSON lines as the worker's.
 */
export function temporalLogger(log: Logger): TemporalLogger {
  const emit = (level: TemporalLogLevel, message: string, meta?: LogMetadata): void => {
    log[LEVELS[level]]({ ...meta }, message);
  };
  return {
    log: emit,
    trace: (message, meta) => emit('TRACE', message, meta),
    debug: (message, meta) => emit('DEBUG', message, meta),
    info: (message, meta) => emit('INFO', message, meta),
    warn: (message, meta) => emit('WARN', message, meta),
    error: (message, meta) => emit('ERROR', message, meta),
  };
}
