#!/usr/bin/env node
// How long is Open WebUI down during a backup? Runs the Open WebUI stand-in (test/fixtures/standin) in the
// test Docker engine with a vector store of about 1 GiB of Chroma segment files, then backs it up with the
// real CLI (`owb backup --container … --json`) under `--quiesce stop` and `--quiesce pause`, and prints the
// median downtime_s next to the median duration_s of the whole backup. Each mode gets a fresh repository, so
// its first run is a full backup and the later runs are incremental.
//
//   npm run build && node bench/openwebui-downtime.mjs [--size-mib 1024] [--runs 3] [--workdir DIR] [--keep]
//
// Needs what the integration tests need: scripts/services/docker.sh and openwebui-standin.sh (apt: docker.io,
// python3, sqlite3), run as root so the volume's folder can be written directly.

import { spawnSync } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OWB = path.join(ROOT, 'dist', 'cli', 'main.js');
const SERVICES_DIR = process.env.OWB_SERVICES_DIR ?? path.join(ROOT, '.services');
const MiB = 1024 * 1024;

const USAGE = `usage: node bench/openwebui-downtime.mjs [options]
  --size-mib N   total size of the vector store's segment files (default 1024)
  --runs N       backups per quiesce mode; medians are reported (default 3)
  --workdir DIR  repositories and state (default .bench/openwebui-downtime)
  --keep         keep the container, volume and repositories afterwards
`;

function parseArgs(argv) {
  const o = { sizeMiB: 1024, runs: 3, workdir: path.join(ROOT, '.bench', 'openwebui-downtime'), keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i] ?? fail(`${a} needs a value`);
    if (a === '--size-mib') o.sizeMiB = Number(next());
    else if (a === '--runs') o.runs = Math.max(1, Math.floor(Number(next())));
    else if (a === '--workdir') o.workdir = path.resolve(next());
    else if (a === '--keep') o.keep = true;
    else if (a === '--help' || a === '-h') { process.stdout.write(USAGE); process.exit(0); }
    else fail(`unknown option ${a}\n\n${USAGE}`);
  }
  if (!(o.sizeMiB >= 8)) fail('--size-mib must be at least 8');
  return o;
}

function fail(msg) {
  process.stderr.write(`openwebui-downtime: ${msg}\n`);
  process.exit(1);
}

const log = (msg) => process.stderr.write(`[downtime ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * MiB, ...opts });
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function readEnv(file) {
  const out = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]] = m[2];
  }
  return out;
}

function startServices() {
  const env = { ...process.env, OWB_SERVICES_DIR: SERVICES_DIR };
  sh('bash', [path.join(ROOT, 'scripts', 'services', 'docker.sh'), 'start'], { env });
  sh('bash', [path.join(ROOT, 'scripts', 'services', 'openwebui-standin.sh'), 'start'], { env });
  return readEnv(path.join(SERVICES_DIR, 'openwebui-standin.env'));
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Incompressible, deterministic bytes (AES-CTR keystream), written in 8 MiB steps. */
function writeRandom(file, bytes, seed) {
  const cipher = createCipheriv('aes-256-ctr', createHash('sha256').update(seed).digest(), Buffer.alloc(16));
  const zero = Buffer.alloc(8 * MiB);
  const fd = fs.openSync(file, 'w');
  try {
    for (let done = 0; done < bytes; ) {
      const n = Math.min(zero.length, bytes - done);
      fs.writeSync(fd, cipher.update(zero.subarray(0, n)));
      done += n;
    }
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Chroma collections as hnswlib leaves them: one UUID folder each, with data_level0.bin holding the vectors
 * (most of the bytes), link_lists.bin, length.bin, header.bin and index_metadata.pickle. Idle collections:
 * the stand-in only ever rewrites its own small one.
 */
function writeVectorStore(dataDir, totalMiB) {
  const collections = 8;
  const per = Math.floor((totalMiB * MiB) / collections);
  for (let i = 0; i < collections; i++) {
    const seg = path.join(dataDir, 'vector_db', `${createHash('md5').update(`c${i}`).digest('hex').replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-')}`);
    fs.mkdirSync(seg, { recursive: true });
    writeRandom(path.join(seg, 'data_level0.bin'), Math.floor(per * 0.9), `d${i}`);
    writeRandom(path.join(seg, 'link_lists.bin'), Math.floor(per * 0.08), `l${i}`);
    writeRandom(path.join(seg, 'length.bin'), per - Math.floor(per * 0.9) - Math.floor(per * 0.08), `n${i}`);
    fs.writeFileSync(path.join(seg, 'header.bin'), Buffer.alloc(100, 1));
    fs.writeFileSync(path.join(seg, 'index_metadata.pickle'), Buffer.from('stand-in metadata'));
  }
}

async function waitAnswering(port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/standin/stats`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  fail(`the stand-in did not answer on ${port}`);
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(OWB)) fail('dist/ is missing: run `npm run build` first');
  const standin = startServices();
  const dockerEnv = { ...process.env, DOCKER_HOST: standin.DOCKER_HOST };
  const docker = (...args) => sh('docker', args, { env: dockerEnv }).trim();

  const tag = randomBytes(4).toString('hex');
  const name = `owbbench-${tag}`;
  const volume = `owbbench-vol-${tag}`;
  fs.rmSync(o.workdir, { recursive: true, force: true });
  fs.mkdirSync(o.workdir, { recursive: true, mode: 0o700 });
  let created = false;
  try {
    docker('volume', 'create', volume);
    const dataDir = docker('volume', 'inspect', '-f', '{{.Mountpoint}}', volume);
    log(`writing ${o.sizeMiB} MiB of vector segments into volume ${volume}`);
    writeVectorStore(dataDir, o.sizeMiB);
    const port = await freePort();
    docker('run', '-d', '--name', name, '--network', 'host', '-e', `PORT=${port}`, '-v', `${volume}:/app/backend/data`, standin.STANDIN_IMAGE_LATEST);
    created = true;
    await waitAnswering(port, 30_000);
    await new Promise((r) => setTimeout(r, 2000)); // some chats and uploads, as a live instance has

    const passwordFile = path.join(o.workdir, 'password');
    fs.writeFileSync(passwordFile, `${randomBytes(12).toString('hex')}\n`, { mode: 0o600 });
    const rows = [];
    for (const mode of ['stop', 'pause']) {
      const repo = path.join(o.workdir, `repo-${mode}`);
      const stateDir = path.join(o.workdir, `state-${mode}`);
      const config = path.join(o.workdir, `owb-${mode}.yaml`);
      fs.writeFileSync(config, `state_dir: ${JSON.stringify(stateDir)}\n`);
      const env = { ...dockerEnv, OWB_REPOSITORY: repo, OWB_PASSWORD_FILE: passwordFile, OWB_CONFIG: config };
      sh(process.execPath, [OWB, 'init'], { env });
      const runs = [];
      for (let i = 1; i <= o.runs; i++) {
        const t0 = process.hrtime.bigint();
        const out = sh(process.execPath, [OWB, 'backup', '--container', name, '--quiesce', mode, '--json'], { env });
        const wall = Number(process.hrtime.bigint() - t0) / 1e9;
        const j = JSON.parse(out);
        runs.push({ downtime: j.downtime_s, duration: j.duration_s, wall, added: j.data_added });
        log(`${mode} run ${i}: downtime ${j.downtime_s.toFixed(3)} s, backup ${j.duration_s.toFixed(2)} s (wall ${wall.toFixed(2)} s), added ${(j.data_added / MiB).toFixed(1)} MiB`);
      }
      rows.push({ mode, runs });
    }

    const pad = (s, n) => String(s).padEnd(n);
    const f3 = (x) => x.toFixed(3);
    const f2 = (x) => x.toFixed(2);
    const lines = [
      `Open WebUI stand-in, vector store ${o.sizeMiB} MiB (8 idle collections) + a live webui.db; ${o.runs} backups per mode, run 1 full, the rest incremental`,
      '',
      `| ${pad('quiesce', 7)} | downtime_s median | downtime_s max | duration_s median | duration_s run 1 (full) | wall s median |`,
      '|---------|-------------------|----------------|-------------------|-------------------------|---------------|',
      ...rows.map(({ mode, runs }) =>
        `| ${pad(mode, 7)} | ${pad(f3(median(runs.map((r) => r.downtime))), 17)} | ${pad(f3(Math.max(...runs.map((r) => r.downtime))), 14)} | ${pad(f2(median(runs.map((r) => r.duration))), 17)} | ${pad(f2(runs[0].duration), 23)} | ${pad(f2(median(runs.map((r) => r.wall))), 13)} |`,
      ),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    if (!o.keep) {
      if (created) spawnSync('docker', ['rm', '-f', '-v', name], { env: dockerEnv, stdio: 'ignore' });
      spawnSync('docker', ['volume', 'rm', volume], { env: dockerEnv, stdio: 'ignore' });
      fs.rmSync(o.workdir, { recursive: true, force: true });
    } else {
      log(`kept container ${name}, volume ${volume} and ${o.workdir}`);
    }
  }
}

main().catch((err) => fail(err.stack ?? String(err)));
