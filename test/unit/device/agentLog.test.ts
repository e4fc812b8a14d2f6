import { expect } from 'chai';

import { createLog, MAX_LOG_FIELD } from '../../../device/agent/log';

describe('agent logs', () => {
  const capture = (level: 'debug' | 'info' | 'warn' | 'error', secrets: string[] = []) => {
    const lines: string[] = [];
    const log = createLog({ level, write: (l) => lines.push(l), secrets, now: () => new Date('2030-01-01T00:00:00Z') });
    return { log, lines };
  };

  it('writes one JSON object per line: time, level and event first, then the fields', () => {
    const { log, lines } = capture('info');
    log.info('cycle', { status: 'installed', version: '1.2.0', durationMs: 12, skipped: undefined });
    expect(lines).to.deep.equal([
      '{"time":"2030-01-01T00:00:00.000Z","level":"info","event":"cycle","status":"installed","version":"1.2.0","durationMs":12}\n',
    ]);
  });

  it('keeps a multi-line message on one line and drops levels below the configured one', () => {
    const { log, lines } = capture('warn');
    log.info('cycle');
    log.debug('step', { step: 'intent-written' });
    log.warn('hook', { output: 'line one\nline two' });
    expect(lines).to.have.length(1);
    expect(lines[0]!.trimEnd().split('\n')).to.have.length(1);
    expect(JSON.parse(lines[0]!)).to.include({ event: 'hook', output: 'line one\nline two' });
  });

  it('never writes a secret, wherever it appears, and caps each field', () => {
    const token = 'tok_0123456789abcdef';
    const { log, lines } = capture('debug', [token]);
    log.error('cycle-failed', { message: `enrollment with ${token} refused`, output: 'x'.repeat(5 * MAX_LOG_FIELD) });
    expect(lines.join('')).not.to.include(token);
    const entry = JSON.parse(lines[0]!) as { message: string; output: string };
    expect(entry.message).to.equal('enrollment with [redacted] refused');
    expect(entry.output).to.have.length(MAX_LOG_FIELD);
  });
});
