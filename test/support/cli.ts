/**
 * Runs the real, built CLI (`node dist/cli/main.js`) as a child process with an environment of its own, for
 * integration tests. Nothing is mocked: each call is a fresh process reading a real repository on disk.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, lstat, mkdtemp, open, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PROJECT_ROOT } from './services.js';

export { PROJECT_ROOT };

/** `node --import` of the test preload (test-only instrumentation: cheap keys, fault injection). */
export const PRELOAD_NODE_OPTION = `--import=${pathToFileURL(join(PROJECT_ROOT, 'test', 'support', 'preload.mjs')).href}`;

/** The compiled entry point the tests run. */
export const CLI_PATH = join(PROJECT_ROOT, 'dist', 'cli', 'main.js');

/** The unprivileged uid/gid tests switch to when they run as root and need permissions to bite. */
export const NOBODY = 65534;

/** True when this test process runs as root (CI), where chmod 000 does not stop reads. */
export const IS_ROOT = process.getuid?.() === 0;

/** What one CLI run produced. `json` is stdout parsed as one JSON document, or undefined when it is not one. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  json: unknown;
}

/** Settings for one CLI run. */
export interface CliOptions {
  /** OWB_REPOSITORY; omitted when undefined. */
  repo?: string;
  /** OWB_PASSWORD_FILE; omitted when undefined. */
  passwordFile?: string;
  /** Extra variables, applied last (a value of undefined removes a variable). */
  env?: Record<string, string | undefined>;
  /** Working directory; defaults to a private empty folder so no ./owb.yaml is picked up. */
  cwd?: string;
  /** Run as this uid/gid (through setpriv); only meaningful when the tests run as root. */
  asUser?: number;
  /** Kill the child after this many ms and fail. */
  timeoutMs?: number;
}

let quietDir: string | undefined;
const tempDirs: string[] = [];

/**
 * Builds dist/ when it is missing, so `npx vitest run test/cli` works on a fresh checkout. When dist/ exists it
 * is used as is: `npm test` builds before running, and rebuilding here would race other workers.
 */
export function ensureBuilt(): void {
  if (existsSync(CLI_PATH)) return;
  const r = spawnSync('npm', ['run', 'build'], { cwd: PROJECT_ROOT, encoding: 'utf8' });
  if (r.status !== 0 || !existsSync(CLI_PATH)) throw new Error(`npm run build failed:\n${r.stdout}\n${r.stderr}`);
}

/**
 * A fresh temp folder, world-traversable (0o755) so a child running as an unprivileged user can reach what
 * the test puts inside. Removed by cleanupTemp().
 */
export async function makeTemp(prefix = 'owb-cli-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  await chmod(dir, 0o755);
  tempDirs.push(dir);
  return dir;
}

/** Removes every folder made by makeTemp() in this test file (call from afterAll). */
export async function cleanupTemp(): Promise<void> {
  quietDir = undefined;
  for (const d of tempDirs.splice(0)) {
    await restoreAccess(d).catch(() => undefined);
    await rm(d, { recursive: true, force: true });
  }
}

/** Gives the owner rwx back on every folder under `dir`, so a test that chmod'ed things to 000 can be cleaned up. */
async function restoreAccess(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await restoreAccess(p);
    else if (e.isFile()) await chmod(p, 0o644);
  }
}

/** Writes a password file (mode 0o600, with a trailing newline as editors leave one) and returns its path. */
export async function writePassword(dir: string, password: string, name = 'password'): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, `${password}\n`, { mode: 0o600 });
  return file;
}

/** Hands a path to the unprivileged test user (used when running as root). */
export async function giveToNobody(path: string): Promise<void> {
  await chown(path, NOBODY, NOBODY);
}

function baseEnv(opts: CliOptions, home: string): Record<string, string> {
  const env: Record<string, string | undefined> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    XDG_CONFIG_HOME: join(home, 'xdg'),
    // Run logs, metrics and always-resume markers stay in the test's own folder.
    XDG_STATE_HOME: join(home, 'state'),
    LANG: 'C.UTF-8',
    // Test-only instrumentation (cheap keys, fault injection) in every owb process: see preload.mjs.
    NODE_OPTIONS: PRELOAD_NODE_OPTION,
    OWB_REPOSITORY: opts.repo,
    OWB_PASSWORD_FILE: opts.passwordFile,
    ...opts.env,
  };
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

async function defaultCwd(): Promise<string> {
  quietDir ??= await makeTemp('owb-cwd-');
  return quietDir;
}

/** Starts the CLI without waiting for it (for signal tests). stdin is closed, so it is never a TTY. */
export async function startCli(args: string[], opts: CliOptions = {}): Promise<ChildProcess> {
  ensureBuilt();
  const cwd = opts.cwd ?? (await defaultCwd());
  const env = baseEnv(opts, cwd);
  const asUser = opts.asUser !== undefined && IS_ROOT;
  const cmd = asUser ? 'setpriv' : process.execPath;
  const argv = asUser
    ? [`--reuid=${opts.asUser}`, `--regid=${opts.asUser}`, '--clear-groups', process.execPath, CLI_PATH, ...args]
    : [CLI_PATH, ...args];
  return spawn(cmd, argv, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Waits for a started CLI and collects what it printed. */
export function collect(child: ChildProcess, timeoutMs = 120_000): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`owb did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, json: parseJson(stdout) });
    });
  });
}

/** Runs `owb <args>` to completion. */
export async function runCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  return collect(await startCli(args, opts), opts.timeoutMs);
}

/** Runs the CLI and fails with its output when the exit code is not the expected one. */
export async function runOk(args: string[], opts: CliOptions = {}, expectCode = 0): Promise<CliResult> {
  const r = await runCli(args, opts);
  if (r.code !== expectCode) {
    throw new Error(`owb ${args.join(' ')} exited ${r.code} (expected ${expectCode})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
  return r;
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Total bytes of the regular files under `dir`, as `du --apparent-size` would count them. */
export async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += (await lstat(join(e.parentPath, e.name))).size;
  }
  return total;
}

/** Pack files of a local repository: absolute paths under repo/data/??/. */
export async function listPacks(repo: string): Promise<string[]> {
  const out: string[] = [];
  for (const sub of (await readdir(join(repo, 'data'))).sort()) {
    for (const name of await readdir(join(repo, 'data', sub))) {
      if (!name.startsWith('.')) out.push(join(repo, 'data', sub, name));
    }
  }
  return out;
}

/** Flips every bit of the byte at `offset` (negative: from the end). Calling it twice restores the file. */
export async function flipByte(file: string, offset: number): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    const size = (await fh.stat()).size;
    const at = offset < 0 ? size + offset : offset;
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    b[0] = b[0]! ^ 0xff;
    await fh.write(b, 0, 1, at);
  } finally {
    await fh.close();
  }
}

/** SHA-256 of a file, hex. */
export async function sha256File(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

/**
 * Writes `bytes` of incompressible, deterministic data (AES-CTR keystream of `seed`) in 8 MiB steps, so
 * hundreds of MiB never sit in memory at once.
 */
export async function writeRandomFile(path: string, bytes: number, seed = 'owb'): Promise<void> {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const zero = Buffer.alloc(8 * 1024 * 1024);
  const fh = await open(path, 'w');
  try {
    for (let done = 0; done < bytes; ) {
      const n = Math.min(zero.length, bytes - done);
      await fh.write(cipher.update(zero.subarray(0, n)));
      done += n;
    }
  } finally {
    await fh.close();
  }
}

/** What compareTrees() looks at for one entry. */
export interface EntryFacts {
  type: 'file' | 'dir' | 'symlink' | 'other';
  /** mode & 0o7777; symlinks are left out (Linux has no lchmod, their mode is always 0o777). */
  mode?: number;
  mtimeNs: bigint;
  size?: number;
  sha256?: string;
  linkTarget?: string;
}

/** Every entry under `root` (root itself as ''), keyed by relative path, never following symlinks. */
export async function describeTree(root: string): Promise<Map<string, EntryFacts>> {
  const out = new Map<string, EntryFacts>();
  const visit = async (abs: string, rel: string): Promise<void> => {
    const st = await lstat(abs, { bigint: true });
    const mode = Number(st.mode & 0o7777n);
    if (st.isSymbolicLink()) {
      out.set(rel, { type: 'symlink', mtimeNs: st.mtimeNs, linkTarget: await readlink(abs) });
    } else if (st.isDirectory()) {
      out.set(rel, { type: 'dir', mode, mtimeNs: st.mtimeNs });
      for (const name of await readdir(abs)) await visit(join(abs, name), rel === '' ? name : `${rel}/${name}`);
    } else if (st.isFile()) {
      out.set(rel, { type: 'file', mode, mtimeNs: st.mtimeNs, size: Number(st.size), sha256: await sha256File(abs) });
    } else {
      out.set(rel, { type: 'other', mode, mtimeNs: st.mtimeNs });
    }
  };
  await visit(root, '');
  return out;
}

/**
 * Differences between two trees as readable lines (empty when equal): names, type, mode, content, link
 * target, and mtime to the microsecond (utimes cannot set nanoseconds, so they are not compared).
 */
export function diffTrees(expected: Map<string, EntryFacts>, actual: Map<string, EntryFacts>): string[] {
  const out: string[] = [];
  for (const name of expected.keys()) if (!actual.has(name)) out.push(`missing: ${JSON.stringify(name)}`);
  for (const name of actual.keys()) if (!expected.has(name)) out.push(`unexpected: ${JSON.stringify(name)}`);
  for (const [name, e] of expected) {
    const a = actual.get(name);
    if (!a) continue;
    const label = JSON.stringify(name);
    if (a.type !== e.type) out.push(`${label}: type ${a.type}, expected ${e.type}`);
    if (a.mode !== e.mode) out.push(`${label}: mode ${a.mode?.toString(8)}, expected ${e.mode?.toString(8)}`);
    if (a.size !== e.size || a.sha256 !== e.sha256) out.push(`${label}: content differs (size ${a.size}, expected ${e.size})`);
    if (a.linkTarget !== e.linkTarget) out.push(`${label}: link target ${a.linkTarget}, expected ${e.linkTarget}`);
    if (a.mtimeNs / 1000n !== e.mtimeNs / 1000n) out.push(`${label}: mtime ${a.mtimeNs} ns, expected ${e.mtimeNs} ns (to the µs)`);
  }
  return out;
}

/** True when a string contains terminal progress codes (carriage return or a CSI escape). */
export function hasProgressCodes(text: string): boolean {
  return text.includes('\r') || text.includes('\x1b[');
}

/**
 * Imports a compiled module from dist/ (the same code the CLI runs), typed as its source module, e.g.
 * `await loadDist<typeof import('../../src/repo/repository.js')>('repo/repository.js')`.
 */
export async function loadDist<T>(relPath: string): Promise<T> {
  ensureBuilt();
  return (await import(pathToFileURL(join(PROJECT_ROOT, 'dist', relPath)).href)) as T;
}
