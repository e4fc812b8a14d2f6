import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

import { expect } from 'chai';

import { REPO_ROOT } from '../../paths';

/** Every Markdown file a reader meets: the README, CONTRIBUTING and everything under docs/. */
function markdownFiles(): string[] {
  const docs = readdirSync(join(REPO_ROOT, 'docs'), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.md'))
    .map((name) => join(REPO_ROOT, 'docs', name));
  return [join(REPO_ROOT, 'README.md'), join(REPO_ROOT, 'CONTRIBUTING.md'), ...docs];
}

/** The text outside fenced code blocks: links and headings there are examples, not the doc's own. */
function prose(text: string): string {
  return text.replace(/^```[\s\S]*?^```/gm, '');
}

/** `[text](target)` and `![alt](target)`, outside fenced code blocks. */
function linksIn(text: string): string[] {
  return [...prose(text).matchAll(/!?\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
}

/** GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsIn(text: string): Set<string> {
  return new Set([...prose(text).matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchorOf(m[1]!)));
}

/** Repository paths named in backticks (`infra/config.ts`), as the docs point readers at files. */
function pathsIn(text: string): string[] {
  return [...text.matchAll(/`([A-Za-z0-9_./-]+\/[A-Za-z0-9_.-]+\.(?:ts|sql|sh|json|yml|mjs|cjs|md))`/g)]
    .map((m) => m[1]!)
    .filter((p) => !/^(var|dist|node_modules)\//.test(p) && !p.startsWith('/') && !p.includes('*'));
}

describe('the documentation', () => {
  const files = markdownFiles();

  it('exists where the README says: CONTRIBUTING.md and docs/', () => {
    for (const file of files) expect(existsSync(file), relative(REPO_ROOT, file)).to.equal(true);
  });

  it('links only to files inside the repository, and each one exists (with its heading, when it names one)', () => {
    const broken: string[] = [];
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      for (const link of linksIn(text)) {
        const where = `${relative(REPO_ROOT, file)}: ${link}`;
        if (/^[a-z][a-z0-9+.-]*:/i.test(link)) {
          broken.push(`${where} (leaves the repository)`);
          continue;
        }
        const [path = '', anchor] = link.split('#');
        const target = path === '' ? file : join(dirname(file), path);
        if (!existsSync(target)) {
          broken.push(`${where} (no such file)`);
          continue;
        }
        if (anchor && target.endsWith('.md') && !anchorsIn(readFileSync(target, 'utf8')).has(anchor)) {
          broken.push(`${where} (no such heading)`);
        }
      }
    }
    expect(broken).to.deep.equal([]);
  });

  it('names only repository files that exist', () => {
    const missing: string[] = [];
    for (const file of files) {
      for (const path of pathsIn(readFileSync(file, 'utf8'))) {
        const candidates = [
          join(REPO_ROOT, path),
          join(REPO_ROOT, 'client-sdk', path),
          join(REPO_ROOT, 'client-sdk/src', path),
        ];
        if (!candidates.some((c) => existsSync(c))) missing.push(`${relative(REPO_ROOT, file)}: ${path}`);
      }
    }
    expect(missing).to.deep.equal([]);
  });

  it('lists every decision record in the index of decisions', () => {
    const index = readFileSync(join(REPO_ROOT, 'docs', 'adr', 'README.md'), 'utf8');
    const records = readdirSync(join(REPO_ROOT, 'docs', 'adr')).filter((name) => /^\d{4}-.+\.md$/.test(name));
    expect(records.length).to.be.above(0);
    expect(records.filter((name) => !index.includes(`](${name})`))).to.deep.equal([]);
  });
});
