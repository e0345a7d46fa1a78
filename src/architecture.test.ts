/**
 * The architecture of DESIGN.md §2, kept by a test: arrows point down only, and no module imports itself back
 * through others. A folder may import the folders listed for it (and errors.ts, version.ts), nothing above.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = import.meta.dirname;
const ROOT_FILES = ['errors.ts', 'version.ts'];
const MAY_IMPORT: Record<string, string[]> = {
  cli: ['web', 'jobs', 'archiver', 'restorer', 'ops', 'openwebui', 'docker', 'repo', 'storage', 'config', 'util'],
  web: ['jobs', 'ops', 'config', 'util'],
  jobs: ['archiver', 'restorer', 'ops', 'openwebui', 'docker', 'repo', 'storage', 'config', 'util'],
  archiver: ['repo', 'util'],
  restorer: ['repo', 'util'],
  openwebui: ['docker', 'config', 'util'],
  docker: ['config', 'util'],
  ops: ['config', 'util'],
  repo: ['storage', 'util'],
  storage: ['config', 'util'],
  config: ['util'],
  util: [],
};

/** Relative module specifiers of a file: static imports, re-exports, side-effect and dynamic imports. */
export function specifiers(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?\bfrom\s*['"](\.[^'"]+)['"]/g)) out.push(m[1]!);
  for (const m of text.matchAll(/(?:^|\n)\s*import\s*['"](\.[^'"]+)['"]/g)) out.push(m[1]!);
  for (const m of text.matchAll(/\bimport\(\s*['"](\.[^'"]+)['"]\s*\)/g)) out.push(m[1]!);
  return out;
}

/** Every production module (src/, tests left out) with the src-relative modules it imports. */
function graph(): Map<string, string[]> {
  const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
  const g = new Map<string, string[]>();
  for (const f of files) {
    const deps = specifiers(readFileSync(join(SRC, f), 'utf8')).map((s) => relative(SRC, resolve(dirname(join(SRC, f)), s)).replace(/\.js$/, '.ts'));
    g.set(f, deps);
  }
  return g;
}

const folder = (f: string): string => (f.includes('/') ? f.slice(0, f.indexOf('/')) : f);

describe('architecture', () => {
  const g = graph();

  it('has only known folders, and every arrow points down', () => {
    const bad: string[] = [];
    for (const [from, deps] of g) {
      const top = folder(from);
      if (!ROOT_FILES.includes(from) && !(top in MAY_IMPORT)) bad.push(`${from}: unknown folder`);
      for (const to of deps) {
        const t = folder(to);
        if (t === top || ROOT_FILES.includes(to)) continue;
        if (!(MAY_IMPORT[top] ?? []).includes(t)) bad.push(`${from} imports ${to}`);
      }
    }
    expect(g.size).toBeGreaterThan(100);
    expect(bad).toEqual([]);
  });

  it('has no import cycles', () => {
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (f: string, path: string[]): void => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        cycles.push([...path.slice(path.indexOf(f)), f].join(' -> '));
        return;
      }
      state.set(f, 'open');
      for (const d of g.get(f) ?? []) visit(d, [...path, f]);
      state.set(f, 'done');
    };
    for (const f of g.keys()) visit(f, []);
    expect(cycles).toEqual([]);
  });

  it('recognises every kind of import and ignores packages', () => {
    const text = "import { a } from '../jobs/a.js';\nimport type { B } from '../repo/b.js';\nexport { c } from './c.js';\nimport '../docker/d.js';\nconst e = await import('../openwebui/e.js');\nimport { z } from 'zod';";
    expect(specifiers(text)).toEqual(['../jobs/a.js', '../repo/b.js', './c.js', '../docker/d.js', '../openwebui/e.js']);
  });
});
