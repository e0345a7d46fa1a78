#!/usr/bin/env node
// owb vs restic vs tar benchmark. Run with `npm run bench` (builds first) or `node bench/run.mjs [options]`.
// See bench/README.md. Writes its table into BENCHMARKS.md between <!-- bench:start --> and <!-- bench:end -->.

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeDataset, mutate } from './make-dataset.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OWB_MAIN = path.join(ROOT, 'dist', 'cli', 'main.js');
const BENCHMARKS_MD = path.join(ROOT, 'BENCHMARKS.md');
const START = '<!-- bench:start -->';
const END = '<!-- bench:end -->';
const MiB = 1024 * 1024;

const USAGE = `usage: node bench/run.mjs [options]   (or: npm run bench -- [options])

  --reps N         repetitions; medians are reported (default 3)
  --size-mib N     dataset size in MiB (default 1024)
  --seed N         dataset seed (default 1)
  --peers-only     run only restic and tar (to test the harness without owb)
  --workdir DIR    where data, repositories and restores go (default: .bench/ in the project)
  --regen          regenerate the cached base dataset
  --keep           keep the last repetition's data, repositories and logs
  --no-write       do not update BENCHMARKS.md (the table still goes to stdout and <workdir>/results/)
  --write          update BENCHMARKS.md even with --peers-only
  --report-from F  only re-render the report from a saved results file (.bench/results/<stamp>.json)
`;

// ---------------------------------------------------------------------------------------------------------
// Options

function parseArgs(argv) {
  const o = { reps: 3, sizeMiB: 1024, seed: 1, peersOnly: false, workdir: path.join(ROOT, '.bench'), regen: false, keep: false, write: null, reportFrom: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (argv[i + 1] === undefined) fail(`${a} needs a value\n\n${USAGE}`);
      return argv[++i];
    };
    const num = (v, min) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < min) fail(`${a}: expected a number >= ${min}, got ${v}`);
      return n;
    };
    if (a === '--reps') o.reps = Math.floor(num(val(), 1));
    else if (a === '--size-mib') o.sizeMiB = num(val(), 8);
    else if (a === '--seed') o.seed = Math.floor(num(val(), 0));
    else if (a === '--peers-only') o.peersOnly = true;
    else if (a === '--workdir') o.workdir = path.resolve(val());
    else if (a === '--regen') o.regen = true;
    else if (a === '--keep') o.keep = true;
    else if (a === '--no-write') o.write = false;
    else if (a === '--write') o.write = true;
    else if (a === '--report-from') o.reportFrom = path.resolve(val());
    else if (a === '--help' || a === '-h') { process.stdout.write(USAGE); process.exit(0); }
    else fail(`unknown option ${a}\n\n${USAGE}`);
  }
  if (o.write === null) o.write = !o.peersOnly && !o.reportFrom;
  return o;
}

function fail(msg) {
  process.stderr.write(`\nbench: ${msg}\n`);
  process.exit(1);
}

const log = (msg) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

// ---------------------------------------------------------------------------------------------------------
// Tools

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

function aptInstall(pkg) {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['install', '-y', pkg], { stdio: ['ignore', 'inherit', 'inherit'], env });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update'], { stdio: ['ignore', 'inherit', 'inherit'], env });
    r = spawnSync('apt-get', ['install', '-y', pkg], { stdio: ['ignore', 'inherit', 'inherit'], env });
  }
  return r.status === 0;
}

function ensureTools(opts) {
  if (!has('restic')) {
    if (isRoot() && has('apt-get')) {
      log('restic is not on PATH: installing it with apt-get install -y restic');
      if (!aptInstall('restic') || !has('restic')) fail('apt-get install -y restic failed; install restic and retry');
    } else {
      fail('restic is not installed and this is not a root Debian/Ubuntu shell.\n' +
        'Install it (e.g. `sudo apt-get install -y restic`, or a release from https://github.com/restic/restic/releases) and retry.');
    }
  }
  if (!fs.existsSync('/usr/bin/time')) {
    if (isRoot() && has('apt-get')) {
      log('/usr/bin/time (GNU time) is missing: installing package `time` for peak-RSS measurement');
      aptInstall('time');
    }
    if (!fs.existsSync('/usr/bin/time')) log('WARNING: /usr/bin/time not available; peak RSS will be reported as n/a (apt-get install time)');
  }
  for (const t of ['tar', 'gzip', 'python3', 'du', 'cp']) if (!has(t)) fail(`${t} is required but not on PATH`);
  const py = spawnSync('python3', ['-c', 'import sqlite3'], { encoding: 'utf8' });
  if (py.status !== 0) fail(`python3 lacks the sqlite3 module (needed to build the dataset):\n${py.stderr}`);
  if (!opts.peersOnly) {
    if (!fs.existsSync(OWB_MAIN)) fail('dist/cli/main.js does not exist: run `npm run build` first (npm run bench does), or pass --peers-only');
    const r = spawnSync(process.execPath, [OWB_MAIN, '--help'], { encoding: 'utf8' });
    if (r.status !== 0) fail(`\`node dist/cli/main.js --help\` failed (exit ${r.status}):\n${r.stderr}${r.stdout}`);
  }
}

function machine() {
  const restic = spawnSync('restic', ['version'], { encoding: 'utf8' }).stdout.trim();
  const tar = (spawnSync('tar', ['--version'], { encoding: 'utf8' }).stdout || '').split('\n')[0];
  const gzip = (spawnSync('gzip', ['--version'], { encoding: 'utf8' }).stdout || '').split('\n')[0];
  const sqlite = spawnSync('python3', ['-c', 'import sqlite3; print(sqlite3.sqlite_version)'], { encoding: 'utf8' }).stdout.trim();
  let owb = null;
  if (fs.existsSync(path.join(ROOT, 'package.json'))) owb = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;
  const cpus = os.cpus();
  return {
    nproc: typeof os.availableParallelism === 'function' ? os.availableParallelism() : cpus.length,
    cpuModel: cpus[0]?.model?.trim() ?? 'unknown',
    memGiB: +(os.totalmem() / 1024 ** 3).toFixed(1),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    restic,
    tar,
    gzip,
    sqlite,
    owb,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Machine load while the benchmark runs (the machine is shared: this documents how noisy a run was)

function startLoadSampler() {
  const samples = { load1: [], cpuPressure: [] };
  const take = () => {
    samples.load1.push(os.loadavg()[0]);
    try {
      const m = /some avg10=([\d.]+)/.exec(fs.readFileSync('/proc/pressure/cpu', 'utf8'));
      if (m) samples.cpuPressure.push(Number(m[1]));
    } catch { /* no PSI on this kernel */ }
  };
  take();
  const timer = setInterval(take, 5000);
  timer.unref();
  return { samples, stop: () => { clearInterval(timer); take(); return samples; } };
}

// ---------------------------------------------------------------------------------------------------------
// Measuring one command

class CommandError extends Error {}

let logDir = null;
let logSeq = 0;

/** Runs a command under /usr/bin/time, returns { seconds, rssKiB, stdout, stderr }; throws CommandError on failure. */
function measure(label, cmd, args, { env = {}, cwd = ROOT } = {}) {
  return new Promise((resolve, reject) => {
    const useTime = fs.existsSync('/usr/bin/time');
    const rssFile = path.join(logDir, `${String(++logSeq).padStart(3, '0')}-${label.replace(/[^a-z0-9]+/gi, '_')}.rss`);
    const argv = useTime ? ['-f', '%M', '-o', rssFile, cmd, ...args] : args;
    const exe = useTime ? '/usr/bin/time' : cmd;
    const envStr = Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ');
    const cmdline = `${envStr ? envStr + ' ' : ''}${[cmd, ...args].join(' ')}`;
    const t0 = process.hrtime.bigint();
    const child = spawn(exe, argv, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [], err = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    child.on('error', (e) => reject(new CommandError(`${label}: could not start \`${cmdline}\`: ${e.message}`)));
    child.on('close', (code, signal) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      fs.writeFileSync(rssFile.replace(/\.rss$/, '.log'), `$ ${cmdline}\n# exit ${code}${signal ? ` signal ${signal}` : ''}, ${seconds.toFixed(2)} s\n--- stdout\n${stdout.slice(-200000)}\n--- stderr\n${stderr}`);
      let rssKiB = null;
      if (useTime && fs.existsSync(rssFile)) {
        const lines = fs.readFileSync(rssFile, 'utf8').trim().split('\n');
        const v = Number(lines[lines.length - 1]);
        if (Number.isFinite(v)) rssKiB = v;
      }
      if (code !== 0) {
        reject(new CommandError(`${label} FAILED (exit ${code}${signal ? `, signal ${signal}` : ''}) after ${seconds.toFixed(1)} s\n` +
          `command: ${cmdline}\n(cwd: ${cwd})\n--- stderr ---\n${stderr.trim() || '(empty)'}\n--- stdout (tail) ---\n${stdout.trim().slice(-4000) || '(empty)'}`));
        return;
      }
      resolve({ seconds, rssKiB, stdout, stderr });
    });
  });
}

function duBytes(p) {
  const r = spawnSync('du', ['-sb', p], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`du -sb ${p} failed: ${r.stderr}`);
  return Number(r.stdout.split(/\s/)[0]);
}

function sh(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status}): ${r.stderr}`);
}

const syncDisks = () => spawnSync('sync');

/** Last JSON object in a command's stdout (optionally the last one with message_type === type). */
function lastJson(stdout, type) {
  let found = null;
  for (const line of stdout.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    try {
      const j = JSON.parse(t);
      if (!type || j.message_type === type) found = j;
    } catch { /* not a one-line document */ }
  }
  if (!found && !type) {
    try { found = JSON.parse(stdout); } catch { /* none */ }
  }
  return found;
}

// ---------------------------------------------------------------------------------------------------------
// Restore verification: recursive size + count comparison and sampled content hashes.

function walk(dir, rel = '', out = new Map()) {
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    const full = path.join(dir, r);
    if (e.isDirectory()) { out.set(r, { type: 'dir' }); walk(dir, r, out); }
    else if (e.isFile()) out.set(r, { type: 'file', size: fs.statSync(full).size });
    else if (e.isSymbolicLink()) out.set(r, { type: 'link', target: fs.readlinkSync(full) });
    else out.set(r, { type: 'other' });
  }
  return out;
}

function sampleHash(file, size) {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const W = MiB;
    // Small files whole; large ones at head, the two middle MiB (where mutate() writes) and tail.
    const regions = size <= 8 * W ? [[0, size]] : [[0, W], [Math.floor(size / 2) - W, 2 * W], [size - W, W]];
    const buf = Buffer.alloc(Math.min(size, 8 * W) || 1);
    for (const [off, len] of regions) {
      const n = fs.readSync(fd, buf, 0, len, off);
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

function verifyRestore(tool, src, restoredRoot) {
  const restored = path.join(restoredRoot, src); // absolute source path re-rooted under the target
  if (!fs.existsSync(restored)) {
    const top = fs.existsSync(restoredRoot) ? fs.readdirSync(restoredRoot).join(', ') : '(target missing)';
    throw new Error(`${tool} restore verification FAILED: expected the data at <target>${src}, ` +
      `but it does not exist (target contains: ${top || 'nothing'})`);
  }
  const a = walk(src), b = walk(restored);
  const problems = [];
  for (const [p, e] of a) {
    const f = b.get(p);
    if (!f) problems.push(`missing: ${p}`);
    else if (f.type !== e.type) problems.push(`type differs: ${p} (${e.type} vs ${f.type})`);
    else if (e.type === 'file' && f.size !== e.size) problems.push(`size differs: ${p} (${e.size} vs ${f.size})`);
    else if (e.type === 'link' && f.target !== e.target) problems.push(`link target differs: ${p}`);
  }
  for (const p of b.keys()) if (!a.has(p)) problems.push(`extra: ${p}`);
  const files = [...a].filter(([, e]) => e.type === 'file');
  const bytes = files.reduce((s, [, e]) => s + e.size, 0);
  // Sample: every 25th file, every file of 1 MiB or more, and every file touched since the base dataset.
  let sampled = 0;
  files.forEach(([p, e], i) => {
    if (problems.length > 20) return;
    if (i % 25 !== 0 && e.size < MiB && !/new-item|webui\.db|server-0[01]\.log/.test(p)) return;
    if (!b.get(p) || b.get(p).size !== e.size) return;
    sampled++;
    if (sampleHash(path.join(src, p), e.size) !== sampleHash(path.join(restored, p), e.size)) problems.push(`content differs: ${p}`);
  });
  if (problems.length) {
    throw new Error(`${tool} restore verification FAILED (${problems.length} problem(s)):\n  ${problems.slice(0, 20).join('\n  ')}`);
  }
  return { files: files.length, entries: a.size, bytes, sampled };
}

// ---------------------------------------------------------------------------------------------------------
// Tools under test

function owbTool(repo, pwFile) {
  const env = { OWB_REPOSITORY: repo, OWB_PASSWORD_FILE: pwFile };
  const node = process.execPath;
  const main = path.relative(ROOT, OWB_MAIN);
  return {
    name: 'owb',
    repo,
    init: () => measure('owb init', node, [main, 'init'], { env }),
    backup: (label, dir) => measure(label, node, [main, 'backup', dir, '--json'], { env }),
    restore: (label, target) => measure(label, node, [main, 'restore', 'latest', '--target', target], { env }),
    summary: (stdout) => lastJson(stdout),
  };
}

function resticTool(repo, pwFile, cacheDir) {
  const env = { RESTIC_REPOSITORY: repo, RESTIC_PASSWORD_FILE: pwFile, RESTIC_CACHE_DIR: cacheDir };
  return {
    name: 'restic',
    repo,
    init: () => measure('restic init', 'restic', ['init', '--repository-version', '2'], { env }),
    backup: (label, dir) => measure(label, 'restic', ['backup', '--json', dir], { env }),
    restore: (label, target) => measure(label, 'restic', ['restore', 'latest', '--target', target], { env }),
    summary: (stdout) => lastJson(stdout, 'summary'),
  };
}

// ---------------------------------------------------------------------------------------------------------
// One repetition

async function repetition(rep, opts, baseDir) {
  const run = path.join(opts.workdir, 'run');
  fs.rmSync(run, { recursive: true, force: true });
  fs.mkdirSync(run, { recursive: true });
  logDir = path.join(run, 'logs');
  fs.mkdirSync(logDir);
  const data = path.join(run, 'data');
  log(`rep ${rep}: copying the base dataset`);
  sh('cp', ['-a', baseDir, data]);
  const pw = path.join(run, 'password');
  fs.writeFileSync(pw, 'owb-bench-password\n', { mode: 0o600 });

  const tools = [];
  if (!opts.peersOnly) tools.push(owbTool(path.join(run, 'owb-repo'), pw));
  tools.push(resticTool(path.join(run, 'restic-repo'), pw, path.join(run, 'restic-cache')));
  // Alternate which tool goes first, so neither systematically profits from warm caches or a quiet minute.
  const order = rep % 2 === 1 ? tools : [...tools].reverse();
  const r = { rep, order: order.map((t) => t.name), tools: {}, tar: {} };
  for (const t of tools) r.tools[t.name] = {};

  for (const t of order) await t.init();

  for (const [phase, label] of [['backup1', 'first backup'], ['backup2', 'second backup']]) {
    if (phase === 'backup2') {
      log(`rep ${rep}: mutating ~1 % of the data`);
      r.mutation = mutate(data, 0.01, { seed: opts.seed });
    }
    for (const t of order) {
      syncDisks();
      log(`rep ${rep}: ${t.name} ${label}`);
      const m = await t.backup(`${t.name} ${label}`, data);
      const s = t.summary(m.stdout);
      if (!s) throw new CommandError(`${t.name} ${label}: exit 0 but no JSON summary on stdout; stdout tail:\n${m.stdout.slice(-2000)}`);
      syncDisks();
      r.tools[t.name][phase] = { seconds: m.seconds, rssKiB: m.rssKiB, repoBytes: duBytes(t.repo), summary: s };
      log(`rep ${rep}: ${t.name} ${label}: ${m.seconds.toFixed(2)} s, ${fmtKiB(m.rssKiB)}, repo ${fmtBytes(r.tools[t.name][phase].repoBytes)}`);
    }
  }

  syncDisks();
  log(`rep ${rep}: tar -czf`);
  const tarball = path.join(run, 'data.tar.gz');
  const tm = await measure('tar -czf', 'tar', ['-czf', tarball, '-C', run, 'data']);
  r.tar = { seconds: tm.seconds, rssKiB: tm.rssKiB, bytes: fs.statSync(tarball).size };
  fs.rmSync(tarball);
  log(`rep ${rep}: tar -czf: ${tm.seconds.toFixed(2)} s, ${fmtBytes(r.tar.bytes)}`);

  for (const t of order) {
    const target = path.join(run, `restore-${t.name}`);
    fs.mkdirSync(target);
    syncDisks();
    log(`rep ${rep}: ${t.name} restore`);
    const m = await t.restore(`${t.name} restore`, target);
    syncDisks();
    const v = verifyRestore(t.name, data, target);
    r.tools[t.name].restore = { seconds: m.seconds, rssKiB: m.rssKiB, verified: v };
    log(`rep ${rep}: ${t.name} restore: ${m.seconds.toFixed(2)} s, ${fmtKiB(m.rssKiB)}; verified ${v.files} files, ${fmtBytes(v.bytes)}, ${v.sampled} hashed`);
    fs.rmSync(target, { recursive: true, force: true });
  }
  return r;
}

// ---------------------------------------------------------------------------------------------------------
// Statistics and formatting

function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}
const range = (xs) => {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x));
  return v.length ? [Math.min(...v), Math.max(...v)] : null;
};
const fmtS = (s) => (s == null ? 'n/a' : s >= 100 ? `${s.toFixed(0)} s` : s >= 10 ? `${s.toFixed(1)} s` : `${s.toFixed(2)} s`);
const fmtKiB = (k) => (k == null ? 'n/a' : `${(k / 1024).toFixed(0)} MiB`);
const fmtBytes = (b) => (b == null ? 'n/a' : b >= 10 * MiB ? `${(b / MiB).toFixed(0)} MiB` : `${(b / MiB).toFixed(1)} MiB`);
const ratio = (a, b) => (a == null || b == null || b === 0 ? '—' : `${(a / b).toFixed(2)}×`);

function timeCell(xs, reps) {
  const m = median(xs);
  if (m == null) return '—';
  const rg = range(xs);
  return reps > 1 ? `${fmtS(m)} (${fmtS(rg[0]).replace(' s', '')}–${fmtS(rg[1])})` : fmtS(m);
}

function report(results, opts, info, dataset, command, finishedAt = new Date().toISOString()) {
  const reps = results.length;
  const get = (tool, phase, key) => results.map((r) => r.tools[tool]?.[phase]?.[key]);
  const tools = ['owb', 'restic'];
  const has = (tool) => results.some((r) => r.tools[tool]);
  const col = (tool, f) => (has(tool) ? f(tool) : '—');
  const lines = [];
  const L = (s = '') => lines.push(s);
  const date = finishedAt.slice(0, 16).replace('T', ' ') + ' UTC';
  const cat = dataset.categories;
  const mut = results[0].mutation ?? {};

  L(`_Generated ${date} by \`${command}\`; medians of ${reps} repetition${reps > 1 ? 's' : ''}` +
    `${reps > 1 ? ' (min–max in parentheses)' : ''}. owb/restic > 1 means owb is slower, bigger or hungrier._`);
  L();
  L(`**Machine:** ${info.nproc} CPUs (${info.cpuModel}), ${info.memGiB} GiB RAM, ${info.kernel}; Node ${info.node}; ` +
    `${info.restic}; ${info.tar}; ${info.gzip}${info.owb ? `; owb ${info.owb}` : ''}.`);
  L();
  L(`**Dataset** (seed ${dataset.seed}): ${fmtBytes(dataset.bytes)} in ${dataset.files.toLocaleString('en-US')} files — ` +
    `text ${fmtBytes(cat.text.bytes)} (${cat.text.files} logs and markdown files, gzip ${dataset.compressibility.text.toFixed(1)}×), ` +
    `SQLite ${fmtBytes(cat.sqlite.bytes)} (2 databases with indexes, gzip ${dataset.compressibility.sqlite.toFixed(1)}×), ` +
    `incompressible binary ${fmtBytes(cat.binary.bytes)} (${cat.binary.files} files, largest ${fmtBytes(dataset.largestFile)}), ` +
    `small files ${fmtBytes(cat.small.bytes)} (${cat.small.files.toLocaleString('en-US')} files of 1–16 KiB in nested folders, gzip ${dataset.compressibility.small.toFixed(1)}×). ` +
    `Before the second backup ~1 % changes: a ${fmtBytes(mut.binaryRegionBytes)} region rewritten in the middle of the largest binary file, ` +
    `${fmtBytes(mut.sqliteRowBytesAdded)} of rows appended to the SQLite vector store, ` +
    `${fmtBytes(mut.logBytesAppended)} appended to two logs, ${mut.smallModified} small files modified and ${mut.smallAdded} added.`);
  const load1 = results.flatMap((r) => r.load?.load1 ?? []);
  const psi = results.flatMap((r) => r.load?.cpuPressure ?? []);
  if (load1.length) {
    L();
    L(`**Machine load during the run** (sampled every 5 s; other jobs share this machine): 1-minute load average ` +
      `median ${median(load1).toFixed(1)}, max ${Math.max(...load1).toFixed(1)} on ${info.nproc} CPUs` +
      (psi.length ? `; CPU pressure (PSI \`some avg10\`) median ${median(psi).toFixed(0)} %, max ${Math.max(...psi).toFixed(0)} %.` : '.'));
  }
  L();
  L('### Time (wall clock)');
  L();
  L('| operation | owb | restic | owb/restic |');
  L('|---|---:|---:|---:|');
  const timeRow = (name, phase) => {
    const o = get('owb', phase, 'seconds'), r = get('restic', phase, 'seconds');
    L(`| ${name} | ${col('owb', () => timeCell(o, reps))} | ${timeCell(r, reps)} | ${has('owb') ? ratio(median(o), median(r)) : '—'} |`);
  };
  timeRow('backup 1 (full, empty repository)', 'backup1');
  timeRow('backup 2 (~1 % changed)', 'backup2');
  timeRow('restore latest (full)', 'restore');
  const tarS = results.map((r) => r.tar.seconds);
  L(`| \`tar -czf\` of the same data (reference) | tar: ${timeCell(tarS, reps)} | | owb backup 1 / tar: ${has('owb') ? ratio(median(get('owb', 'backup1', 'seconds')), median(tarS)) : '—'}; restic / tar: ${ratio(median(get('restic', 'backup1', 'seconds')), median(tarS))} |`);
  L();
  L('### Peak RSS (max resident set of the process, GNU time `%M`)');
  L();
  L('| operation | owb | restic | owb/restic |');
  L('|---|---:|---:|---:|');
  for (const [name, phase] of [['backup 1', 'backup1'], ['backup 2', 'backup2'], ['restore', 'restore']]) {
    const o = median(get('owb', phase, 'rssKiB')), r = median(get('restic', phase, 'rssKiB'));
    L(`| ${name} | ${col('owb', () => fmtKiB(o))} | ${fmtKiB(r)} | ${has('owb') ? ratio(o, r) : '—'} |`);
  }
  L(`| \`tar -czf\` (reference) | tar: ${fmtKiB(median(results.map((r) => r.tar.rssKiB)))} | | |`);
  L();
  L('### Repository size (`du -sb`)');
  L();
  L('| | owb | restic | owb/restic |');
  L('|---|---:|---:|---:|');
  const size = (tool, phase) => median(get(tool, phase, 'repoBytes'));
  for (const [name, phase] of [['after backup 1', 'backup1'], ['after backup 2', 'backup2']]) {
    L(`| ${name} | ${col('owb', () => fmtBytes(size('owb', phase)))} | ${fmtBytes(size('restic', phase))} | ${has('owb') ? ratio(size('owb', phase), size('restic', phase)) : '—'} |`);
  }
  const growth = (tool) => median(results.map((r) => r.tools[tool] && r.tools[tool].backup2.repoBytes - r.tools[tool].backup1.repoBytes));
  L(`| growth from backup 2 | ${col('owb', () => fmtBytes(growth('owb')))} | ${fmtBytes(growth('restic'))} | ${has('owb') ? ratio(growth('owb'), growth('restic')) : '—'} |`);
  const added = (tool) => median(results.map((r) => r.tools[tool]?.backup2?.summary?.data_added));
  L(`| backup 2 \`data_added\` (tool's own report, before compression) | ${col('owb', () => fmtBytes(added('owb')))} | ${fmtBytes(added('restic'))} | ${has('owb') ? ratio(added('owb'), added('restic')) : '—'} |`);
  L(`| \`tar -czf\` of the same data (reference) | tar: ${fmtBytes(median(results.map((r) => r.tar.bytes)))} | | |`);
  L();
  L('<details><summary>Per-repetition values</summary>');
  L();
  L('| rep | order | tool | backup 1 | backup 2 | restore | own duration report b1 / b2 | RSS b1 / b2 / restore | repo after b1 / b2 |');
  L('|---|---|---|---:|---:|---:|---:|---:|---:|');
  const own = (s) => (s?.duration_s ?? s?.total_duration);
  for (const r of results) {
    for (const t of tools) {
      const x = r.tools[t];
      if (!x) continue;
      L(`| ${r.rep} | ${r.order.join(' → ')} | ${t} | ${fmtS(x.backup1.seconds)} | ${fmtS(x.backup2.seconds)} | ${fmtS(x.restore.seconds)} | ` +
        `${fmtS(own(x.backup1.summary))} / ${fmtS(own(x.backup2.summary))} | ` +
        `${fmtKiB(x.backup1.rssKiB)} / ${fmtKiB(x.backup2.rssKiB)} / ${fmtKiB(x.restore.rssKiB)} | ${fmtBytes(x.backup1.repoBytes)} / ${fmtBytes(x.backup2.repoBytes)} |`);
    }
    L(`| ${r.rep} | | tar | ${fmtS(r.tar.seconds)} | | | | ${fmtKiB(r.tar.rssKiB)} | ${fmtBytes(r.tar.bytes)} |`);
  }
  L();
  L('</details>');
  return lines.join('\n');
}

function writeBenchmarksMd(section) {
  const block = `${START}\n${section}\n${END}`;
  let text;
  if (fs.existsSync(BENCHMARKS_MD)) {
    const old = fs.readFileSync(BENCHMARKS_MD, 'utf8');
    const a = old.indexOf(START), b = old.indexOf(END);
    text = a >= 0 && b > a ? old.slice(0, a) + block + old.slice(b + END.length) : `${old.trimEnd()}\n\n${block}\n`;
  } else {
    text = `# Benchmarks\n\nProduced by \`npm run bench\` (see bench/README.md).\n\n${block}\n`;
  }
  fs.writeFileSync(BENCHMARKS_MD, text);
}

// ---------------------------------------------------------------------------------------------------------
// Main

async function main() {
  const argv = process.argv.slice(2);
  const opts = parseArgs(argv);
  if (opts.reportFrom) {
    const saved = JSON.parse(fs.readFileSync(opts.reportFrom, 'utf8'));
    const section = report(saved.results, saved.opts, saved.info, saved.dataset, saved.command,
      saved.finishedAt ?? fs.statSync(opts.reportFrom).mtime.toISOString());
    process.stdout.write(`${section}\n`);
    if (opts.write) { writeBenchmarksMd(section); log('BENCHMARKS.md updated'); }
    return;
  }
  const command = process.env.npm_lifecycle_event === 'bench'
    ? `npm run bench${argv.length ? ' -- ' + argv.join(' ') : ''}`
    : `node bench/run.mjs${argv.length ? ' ' + argv.join(' ') : ''}`;
  ensureTools(opts);
  const info = machine();
  log(`${info.nproc} CPUs, ${info.memGiB} GiB, node ${info.node}, ${info.restic}`);

  fs.mkdirSync(opts.workdir, { recursive: true });
  const baseName = `dataset-${opts.sizeMiB}mib-seed${opts.seed}`;
  const baseDir = path.join(opts.workdir, baseName);
  const marker = `${baseDir}.json`;
  let dataset;
  if (!opts.regen && fs.existsSync(marker) && fs.existsSync(baseDir)) {
    dataset = JSON.parse(fs.readFileSync(marker, 'utf8'));
    log(`using the cached dataset ${path.relative(ROOT, baseDir) || baseDir} (--regen to rebuild)`);
  } else {
    fs.rmSync(marker, { force: true });
    fs.rmSync(baseDir, { recursive: true, force: true });
    log(`generating a ${opts.sizeMiB} MiB dataset (seed ${opts.seed})`);
    const t0 = process.hrtime.bigint();
    dataset = await makeDataset(baseDir, { sizeMiB: opts.sizeMiB, seed: opts.seed, log: (m) => log(`dataset: ${m}`) });
    log(`dataset ready in ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(0)} s`);
    fs.writeFileSync(marker, JSON.stringify(dataset, null, 2));
  }

  const results = [];
  for (let rep = 1; rep <= opts.reps; rep++) {
    try {
      const sampler = startLoadSampler();
      const r = await repetition(rep, opts, baseDir);
      r.load = sampler.stop();
      results.push(r);
    } catch (e) {
      process.stderr.write(`\n==== benchmark aborted in repetition ${rep} ====\n${e.message}\n`);
      process.stderr.write(`(logs and data kept in ${path.join(opts.workdir, 'run')})\n`);
      process.exit(1);
    }
  }
  if (!opts.keep) fs.rmSync(path.join(opts.workdir, 'run'), { recursive: true, force: true });

  const finishedAt = new Date().toISOString();
  const section = report(results, opts, info, dataset, command, finishedAt);
  const resultsDir = path.join(opts.workdir, 'results');
  fs.mkdirSync(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  fs.writeFileSync(path.join(resultsDir, `${stamp}.json`), JSON.stringify({ command, finishedAt, opts, info, dataset, results }, null, 2));
  fs.writeFileSync(path.join(resultsDir, `${stamp}.md`), section + '\n');
  process.stdout.write(`\n${section}\n\n`);
  if (opts.write) {
    writeBenchmarksMd(section);
    log('BENCHMARKS.md updated');
  } else {
    log(`BENCHMARKS.md not updated (${opts.peersOnly ? '--peers-only; pass --write to force' : '--no-write'}); results in ${path.relative(ROOT, resultsDir) || resultsDir}`);
  }
}

main().catch((e) => {
  process.stderr.write(`\nbench: ${e instanceof CommandError ? '' : 'internal error: '}${e.stack || e.message}\n`);
  process.exit(1);
});
