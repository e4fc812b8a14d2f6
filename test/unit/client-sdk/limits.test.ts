import { defaultLimits, MAX_REPORT_MESSAGE, reportMessage, updaterConfig } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

describe('updaterConfig', () => {
  it('D-2: caps every metadata download with the device limits and never retries', () => {
    const limits = {
      ...defaultLimits,
      rootMaxLength: 1,
      timestampMaxLength: 2,
      snapshotMaxLength: 3,
      targetsMaxLength: 4,
      fetchTimeoutMs: 5,
    };
    expect(updaterConfig(limits)).to.deep.equal({
      rootMaxLength: 1,
      timestampMaxLength: 2,
      snapshotMaxLength: 3,
      targetsMaxLength: 4,
      fetchTimeout: 5,
      fetchRetries: 0,
    });
  });
});

describe('reportMessage', () => {
  it('drops control characters (NUL among them, which the server cannot store) but keeps tabs and newlines', () => {
    expect(reportMessage('boot\u0000 failed\r\n\tat \u001b[31mstage\u007f 2\u0085')).to.equal(
      'boot failed\n\tat [31mstage 2',
    );
  });

  it(`caps the length at ${MAX_REPORT_MESSAGE} characters`, () => {
    expect(reportMessage('x'.repeat(2000))).to.have.length(MAX_REPORT_MESSAGE);
    expect(reportMessage('short')).to.equal('short');
  });

  it('replaces a lone surrogate with U+FFFD, also one the cap split from its pair, and keeps whole pairs', () => {
    expect(reportMessage('a\uD800b\uDC00c \u{1F600}')).to.equal('a\uFFFDb\uFFFDc \u{1F600}');
    const cut = reportMessage(`${'x'.repeat(MAX_REPORT_MESSAGE - 1)}\u{1F600}`);
    expect(cut).to.have.length(MAX_REPORT_MESSAGE);
    expect(cut.endsWith('x\uFFFD')).to.equal(true);
  });
});
