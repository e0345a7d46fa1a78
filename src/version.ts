import { readFileSync } from 'node:fs';

/** owb's own version, read from package.json once. */
export const PROGRAM_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    return pkg.version;
  } catch {
    return 'unknown';
  }
})();
