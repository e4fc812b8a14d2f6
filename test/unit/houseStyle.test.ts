import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { expect } from 'chai';

import { REPO_ROOT } from '../paths';

/** Every tracked source file of the project: product code, scripts, benchmarks and tests. */
function sourceFiles(): string[] {
  return (
    execFileSync('git', ['ls-files', '*.ts', '*.mjs', '*.cjs', '*.sh', '*.sql', '*.yml'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    })
      .split('\n')
      // Recorded histories are data; this file spells out the patterns it looks for.
      .filter((f) => f !== '' && !f.startsWith('test/histories/') && f !== 'test/unit/houseStyle.test.ts')
  );
}

/** The lines of `file` that match `pattern`, as `file:line: text`. */
function matching(file: string, pattern: RegExp): string[] {
  return readFileSync(join(REPO_ROOT, file), 'utf8')
    .split('\n')
    .flatMap((text, i) => (pattern.test(text) ? [`${file}:${i + 1}: ${text.trim().slice(0, 100)}`] : []));
}

describe('the house style (CONTRIBUTING.md)', () => {
  const files = sourceFiles();

  it('names requirements or reasons in comments and test titles, never the ticket that asked', () => {
    // A hash and a number in a comment or test title, or "issue" and a number; a PKCS standard's name is not one.
    const ticket =
      /((\/\/|\/\*|^\s*\*|--|^\s*#).*(?<!PKCS)#[0-9]{1,4}\b)|((describe|it)\(['"`][^'"`]*(?<!PKCS)#[0-9]+)|\b[Ii]ssue #?[0-9]+/;
    expect(files.flatMap((f) => matching(f, ticket))).to.deep.equal([]);
  });

  it('says what is, not what used to be: no "used to", "(was ...)" or "before this change"', () => {
    const history =
      /\bused to (hang|be|fail|return|answer)\b|\(was (HTTP )?[0-9A-Z]|before this change|\bno longer (hangs|fails)\b/;
    expect(files.flatMap((f) => matching(f, history))).to.deep.equal([]);
  });
});
