#!/usr/bin/env node
// Backup throughput of owb to a local-disk repository and to S3 (the local Ceph RGW test service), on the same
// generated dataset (bench/make-dataset.mjs: text, SQLite, random binary, small files).
//
//   npm run build && node bench/s3-vs-local.mjs [--size-mib 1024] [--reps 3] [--seed 1] [--workdir .bench]
//
// Each repetition backs the dataset up into a fresh local repository and a fresh S3 prefix (the order
// alternates), timing `owb backup` alone (init is not timed). Reports MB/s (10^6 B/s of source data) per run and
// the median. RGW keeps everything in memory, so each S3 prefix is deleted after its run.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { makeDataset } from './make-dataset.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST = path.join(ROOT, 'dist');
const CLI = path.join(DIST, 'cli', 'main.js');

function parseArgs(argv) {
  const o = { sizeMiB: 1024, reps: 3, seed: 1, workdir: path.join(ROOT, '.bench') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i] ?? fail(`${a} needs a value`);
    if (a === '--size-mib') o.sizeMiB = Number(next());
    else if (a === '--reps') o.reps = Math.max(1, Math.floor(Number(next())));
    else if (a === '--seed') o.seed = Math.floor(Number(next()));
    else if (a === '--workdir') o.workdir = path.resolve(next());
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: node bench/s3-vs-local.mjs [--size-mib N] [--reps N] [--seed N] [--workdir DIR]\n');
      process.exit(0);
    } else fail(`unknown option ${a}`);
  }
  if (!(o.sizeMiB >= 8)) fail('--size-mib must be at least 8');
  return o;
}

function fail(msg) {
  process.stderr.write(`s3-vs-local: ${msg}\n`);
  process.exit(1);
}

const log = (m) => process.stderr.write(`[s3-vs-local] ${m}\n`);

/** Bytes of regular files under `dir`. */
function treeBytes(dir) {
  let total = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += fs.lstatSync(path.join(e.parentPath, e.name)).size;
  }
  return total;
}

/** KEY=VALUE lines of a service env file. */
function readEnv(file) {
  const out = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** Runs one owb command; resolves with wall seconds, peak RSS (KiB, when GNU time exists) and stdout. */
function owb(args, env) {
  const timeBin = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : null;
  const nodeArgs = [CLI, '--json', ...args];
  const [cmd, argv] = timeBin ? [timeBin, ['-f', 'RSS_KIB=%M', process.execPath, ...nodeArgs]] : [process.execPath, nodeArgs];
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (code !== 0) return reject(new Error(`owb ${args.join(' ')} exited ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
      const rss = /RSS_KIB=(\d+)/.exec(stderr);
      resolve({ seconds, rssKiB: rss ? Number(rss[1]) : undefined, stdout });
    });
  });
}

/** Deletes every object under an S3 prefix (memstore holds everything in RAM). */
async function wipePrefix(s3env, bucket, prefix) {
  const { S3Backend } = await import(pathToFileURL(path.join(DIST, 'storage', 's3.js')).href);
  const be = new S3Backend({
    endpoint: s3env.S3_ENDPOINT,
    region: s3env.S3_REGION,
    bucket,
    prefix,
    credentials: { accessKeyId: s3env.AWS_ACCESS_KEY_ID, secretAccessKey: s3env.AWS_SECRET_ACCESS_KEY },
  });
  try {
    await be.remove({ type: 'config', name: '' }).catch(() => undefined);
    for (const type of ['keys', 'data', 'index', 'snapshots', 'locks']) {
      const files = await be.list(type);
      for (let i = 0; i < files.length; i += 8) await Promise.all(files.slice(i, i + 8).map((f) => be.remove({ type, name: f.name })));
    }
  } finally {
    await be.close();
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(CLI)) fail('dist/ is missing: run "npm run build" first');
  const dataset = path.join(o.workdir, `dataset-${o.sizeMiB}mib-seed${o.seed}`);
  if (!fs.existsSync(path.join(o.workdir, `dataset-${o.sizeMiB}mib-seed${o.seed}.json`))) {
    log(`generating ${o.sizeMiB} MiB dataset in ${dataset}`);
    fs.rmSync(dataset, { recursive: true, force: true });
    const summary = await makeDataset(dataset, { sizeMiB: o.sizeMiB, seed: o.seed, log: (m) => log(`dataset: ${m}`) });
    fs.writeFileSync(`${dataset}.json`, JSON.stringify(summary, null, 2));
  }
  const bytes = treeBytes(dataset);

  log('starting the S3 service (Ceph RGW)');
  const servicesDir = process.env.OWB_SERVICES_DIR ?? path.join(ROOT, '.services');
  const started = spawnSync('bash', [path.join(ROOT, 'scripts', 'services', 's3.sh'), 'start'], {
    env: { ...process.env, OWB_SERVICES_DIR: servicesDir },
    encoding: 'utf8',
  });
  if (started.status !== 0) fail(`the S3 service did not start:\n${started.stderr}`);
  const s3env = readEnv(path.join(servicesDir, 's3.env'));

  const work = path.join(o.workdir, 's3-vs-local');
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true, mode: 0o700 });
  const passwordFile = path.join(work, 'password');
  fs.writeFileSync(passwordFile, 'bench password\n', { mode: 0o600 });
  const bucket = 'owb-bench';
  const baseEnv = {
    PATH: process.env.PATH,
    HOME: work,
    LANG: 'C.UTF-8',
    OWB_PASSWORD_FILE: passwordFile,
    AWS_ACCESS_KEY_ID: s3env.AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: s3env.AWS_SECRET_ACCESS_KEY,
    AWS_DEFAULT_REGION: s3env.S3_REGION,
  };

  const runs = { local: [], s3: [] };
  for (let rep = 1; rep <= o.reps; rep++) {
    const order = rep % 2 === 1 ? ['local', 's3'] : ['s3', 'local'];
    for (const target of order) {
      const prefix = `rep${rep}-${Date.now()}`;
      const repo = target === 'local' ? path.join(work, `repo-${rep}`) : `s3:${s3env.S3_ENDPOINT}/${bucket}/${prefix}`;
      const env = { ...baseEnv, OWB_REPOSITORY: repo };
      await owb(['init'], env);
      spawnSync('sync');
      const r = await owb(['backup', dataset], env);
      const summary = JSON.parse(r.stdout);
      const mbps = bytes / 1e6 / r.seconds;
      runs[target].push({ seconds: r.seconds, mbps, rssKiB: r.rssKiB, stored: summary.data_added_packed, load: os.loadavg()[0] });
      log(`rep ${rep} ${target}: ${r.seconds.toFixed(1)} s, ${mbps.toFixed(1)} MB/s, peak RSS ${r.rssKiB ? `${(r.rssKiB / 1024).toFixed(0)} MiB` : '?'}, load ${os.loadavg()[0].toFixed(2)}`);
      if (target === 'local') fs.rmSync(repo, { recursive: true, force: true });
      else await wipePrefix(s3env, bucket, prefix);
    }
  }

  const row = (name, xs) =>
    `| ${name} | ${xs.map((x) => x.mbps.toFixed(1)).join(' / ')} | **${median(xs.map((x) => x.mbps)).toFixed(1)}** | ${median(xs.map((x) => x.seconds)).toFixed(1)} | ${
      xs[0].rssKiB ? (median(xs.map((x) => x.rssKiB)) / 1024).toFixed(0) : '?'
    } |`;
  const table = [
    `owb backup of ${(bytes / 2 ** 20).toFixed(0)} MiB (bench/make-dataset.mjs, seed ${o.seed}), ${o.reps} run(s), ${os.cpus().length} cores, load average ${os.loadavg()[0].toFixed(1)} at the end`,
    '',
    '| target | MB/s per run | median MB/s | median s | median peak RSS MiB |',
    '|---|---|---|---|---|',
    row('local disk', runs.local),
    row('S3 (Ceph RGW, 127.0.0.1, memstore)', runs.s3),
  ].join('\n');
  process.stdout.write(`${table}\n`);
  fs.mkdirSync(path.join(o.workdir, 'results'), { recursive: true });
  fs.writeFileSync(path.join(o.workdir, 'results', `s3-vs-local-${Date.now()}.json`), JSON.stringify({ bytes, runs }, null, 2));
  fs.rmSync(work, { recursive: true, force: true });
}

main().catch((err) => fail(err.stack ?? String(err)));
