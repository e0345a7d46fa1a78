/**
 * ops/ is plumbing under every job: it may import only config/, util/, errors.ts and version.ts (and
 * packages), so it never drags repositories, storage, Docker or Open WebUI into a run record or the daemon.
 */
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '..');
const OPS = join(SRC, 'ops');
const ALLOWED_DIRS = ['ops', 'config', 'util'];
const ALLOWED_FILES = ['errors.ts', 'version.ts'];

/** Every module specifier of a TypeScript file: static imports, re-exports and dynamic import(). */
function specifiers(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?\bfrom\s*['"]([^'"]+)['"]/g)) out.push(m[1]!);
  for (const m of text.matchAll(/(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)) out.push(m[1]!);
  for (const m of text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]!);
  return out;
}

/** Where a relative specifier points inside src/, as a path like `config/schema.ts`. */
function target(file: string, spec: string): string {
  return relative(SRC, resolve(dirname(file), spec)).replace(/\.js$/, '.ts');
}

describe('ops/ dependencies', () => {
  it('imports nothing from jobs/, repo/, storage/, docker/, openwebui/ or cli/', async () => {
    // This file is left out: its own samples below are forbidden imports on purpose.
    const files = (await readdir(OPS, { recursive: true }))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => join(OPS, f))
      .filter((f) => f !== import.meta.filename);
    expect(files.length).toBeGreaterThan(10);
    const bad: string[] = [];
    let relativeImports = 0;
    for (const file of files) {
      for (const spec of specifiers(await readFile(file, 'utf8'))) {
        if (!spec.startsWith('.')) continue;
        relativeImports++;
        const to = target(file, spec);
        const ok = ALLOWED_FILES.includes(to) || ALLOWED_DIRS.some((d) => to.startsWith(`${d}/`));
        if (!ok) bad.push(`${relative(SRC, file)} imports ${to}`);
      }
    }
    expect(relativeImports).toBeGreaterThan(30);
    expect(bad).toEqual([]);
  });

  it('recognises every kind of import it is meant to catch', () => {
    const text = [
      "import { a } from '../jobs/a.js';",
      "import type { B } from '../repo/b.js';",
      "export { c } from '../storage/c.js';",
      "import '../docker/side-effect.js';",
      "const d = await import('../openwebui/d.js');",
    ].join('\n');
    expect(specifiers(text)).toEqual(['../jobs/a.js', '../repo/b.js', '../storage/c.js', '../docker/side-effect.js', '../openwebui/d.js']);
  });
});
