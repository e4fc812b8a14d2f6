import { expect } from 'chai';

import { report, type Row } from '../../../bench/lib';

/** What `report` writes for these rows, as text lines. */
function printed(rows: Row[]): string[] {
  const lines: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (chunk: string) => {
    lines.push(...chunk.split('\n').filter((l) => l.trim() !== ''));
    return true;
  };
  try {
    report('rows', rows, false);
  } finally {
    process.stdout.write = write;
  }
  return lines.slice(1);
}

describe('bench report', () => {
  const measured = { baseline: '1 s', ours: '2 s', ratio: 2 };

  it('prints no verdict for a row without a target', () => {
    const [line] = printed([{ measure: 'context only', ...measured }]);
    expect(line).to.match(/context only.*ratio\s+2\.00\s+reported$/);
    expect(line).not.to.match(/\bmet\b|NOT MET/);
  });

  it('prints the verdict of a row with a target, met or not', () => {
    const [met, missed] = printed([
      { measure: 'judged', ...measured, target: '<= 2.00x', met: true },
      { measure: 'judged too', ...measured, target: '<= 1.50x', met: false },
    ]);
    expect(met).to.match(/target <= 2\.00x\s+met$/);
    expect(missed).to.match(/target <= 1\.50x\s+NOT MET$/);
  });
});
