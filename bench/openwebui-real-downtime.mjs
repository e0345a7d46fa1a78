#!/usr/bin/env node
// Downtime and RTO with the REAL Open WebUI (the pinned PyPI release as a container on the test Docker
// engine, offline, with the fake OpenAI-compatible server of the tests). Seeds an instance through its API
// (uploads, knowledge documents embedded by Open WebUI, chats) to --size-mib, then:
//   - backs it up --runs times with --quiesce stop and with --quiesce pause (owb --json downtime_s, and the
//     time /health did not answer as seen by a poller every 100 ms);
//   - measures the RTO: from an empty host (a new container with a new empty volume) until /health answers
//     with the data restored by `owb restore latest --container`.
//
//   npm run build && node bench/openwebui-real-downtime.mjs [--size-mib 500] [--runs 5] [--version 0.12.4]
//
// Needs what the openwebui-real tests need (scripts/services/openwebui-real.sh; OWB_SERVICES_DIR as for
// the tests). The test support code is TypeScript: it is bundled with esbuild into a temp folder first.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OWB = path.join(ROOT, 'dist', 'cli', 'main.js');
const MiB = 1024 * 1024;

const opts = { sizeMiB: 500, runs: 5, version: '0.12.4' };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  const v = process.argv[++i];
  if (a === '--size-mib') opts.sizeMiB = Number(v);
  else if (a === '--runs') opts.runs = Number(v);
  else if (a === '--version') opts.version = v;
  else {
    console.error(`unknown option ${a}`);
    process.exit(2);
  }
}
const log = (m) => process.stderr.write(`[real-downtime ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// The support code (launcher, client, fake server) is TypeScript: bundle it once, dependencies external
// (so the bundle lives inside the project, where node_modules resolves).
await build({
  entryPoints: { support: path.join(ROOT, 'test/support/openwebui-real/index.ts'), fake: path.join(ROOT, 'test/support/fake-openai.ts') },
  bundle: true,
  platform: 'node',
  format: 'esm',
  packages: 'external',
  outdir: path.join(ROOT, '.bench', 'real-downtime-build'),
  logLevel: 'error',
});
const S = await import(pathToFileURL(path.join(ROOT, '.bench', 'real-downtime-build', 'support.js')).href);
const F = await import(pathToFileURL(path.join(ROOT, '.bench', 'real-downtime-build', 'fake.js')).href);

function owb(args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [OWB, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`owb ${args.join(' ')}: exit ${code}\n${err}`));
      try {
        resolve(args.includes('--json') ? JSON.parse(out) : undefined);
      } catch (e) {
        reject(e);
      }
    });
  });
}

/** Polls /health every 100 ms; reports the longest stretch between the last good answer and the next one. */
function healthWatch(baseUrl) {
  let running = true;
  let lastOk = Date.now();
  let worst = 0;
  const loop = (async () => {
    while (running) {
      const t = Date.now();
      let ok = false;
      try {
        const r = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(500) });
        ok = r.ok;
      } catch {}
      if (ok) {
        worst = Math.max(worst, t - lastOk);
        lastOk = t;
      }
      await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - t))));
    }
  })();
  return {
    async waitOkThenStop() {
      const after = Date.now();
      while (lastOk < after) await new Promise((r) => setTimeout(r, 50));
      running = false;
      await loop;
      return worst / 1000;
    },
  };
}

function du(dir) {
  let total = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) total += fs.lstatSync(path.join(e.parentPath, e.name)).size;
  return total;
}

const svc = await S.realOpenWebui();
const fake = await F.startFakeOpenAI();
const launcher = new S.OpenWebuiLauncher(svc, fake);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'owb-bench-real-work-'));
const pw = path.join(work, 'password');
fs.writeFileSync(pw, randomBytes(24).toString('base64'), { mode: 0o600 });
const env = { OWB_REPOSITORY: path.join(work, 'repo'), OWB_PASSWORD_FILE: pw, DOCKER_HOST: svc.dockerHost, XDG_STATE_HOME: path.join(work, 'state') };
const results = { version: opts.version, runs: opts.runs, loadavg_start: os.loadavg().map((x) => x.toFixed(2)).join(' '), cpus: os.cpus().length };
try {
  await owb(['init'], env);
  const inst = await launcher.container(opts.version);
  const api = new S.OpenWebuiClient(inst.baseUrl);
  const admin = await api.signup({ name: 'Admin', email: 'admin@example.com', password: 'admin-pw-1' });
  const root = api.as(admin);
  log(`seeding ${opts.version} to ${opts.sizeMiB} MiB`);
  // Knowledge: 10 documents of ~100 KiB text, embedded by Open WebUI through the fake server.
  const kb = await root.createKnowledge('Bench', 'bench documents');
  const words = ['penguin', 'tower', 'paris', 'krill', 'iron', 'winter', 'backup', 'restore', 'volume', 'vector', 'chroma', 'sqlite'];
  for (let d = 0; d < 10; d++) {
    let text = '';
    while (text.length < 100 * 1024) text += `${Array.from({ length: 12 }, () => words[Math.floor(Math.random() * words.length)]).join(' ')} doc${d}.\n`;
    const f = await root.uploadFile(`doc-${d}.txt`, text);
    await root.addFileToKnowledge(kb.id, f.id);
  }
  for (let c = 0; c < 200; c++) await root.createChat(`chat ${c}`, [{ role: 'user', content: `question ${c}` }, { role: 'assistant', content: `answer ${c} `.repeat(50) }]);
  // Uploads (not processed) until the data folder reaches the target size.
  let n = 0;
  while (du(inst.dataDir) < opts.sizeMiB * MiB) await root.uploadFile(`blob-${n++}.bin`, randomBytes(8 * MiB), { contentType: 'application/octet-stream', process: false });
  results.seeded_bytes = du(inst.dataDir);
  log(`seeded ${(results.seeded_bytes / MiB).toFixed(0)} MiB (${n} uploads)`);

  for (const mode of ['stop', 'pause']) {
    const rows = [];
    for (let i = 0; i < opts.runs; i++) {
      const watch = healthWatch(inst.baseUrl);
      const t0 = Date.now();
      const out = await owb(['--json', 'backup', '--container', inst.containerName, '--quiesce', mode, '--stop-timeout', '30'], env);
      const wall = (Date.now() - t0) / 1000;
      const unavailable = await watch.waitOkThenStop();
      rows.push({ downtime_s: out.downtime_s, duration_s: out.duration_s, wall_s: wall, health_gap_s: unavailable, added: out.data_added });
      log(`${mode} #${i + 1}: downtime_s ${out.downtime_s.toFixed(3)}, /health gap ${unavailable.toFixed(1)} s, backup ${out.duration_s.toFixed(1)} s`);
    }
    results[mode] = {
      runs: rows,
      median_downtime_s: median(rows.map((r) => r.downtime_s)),
      median_health_gap_s: median(rows.map((r) => r.health_gap_s)),
      median_duration_s: median(rows.map((r) => r.duration_s)),
    };
  }
  const check = (await root.listChats()).length;
  await inst.stop();

  // RTO: an empty host. A new container on a new empty volume, then the restore, until /health answers with the data.
  log('RTO: new container, empty volume, owb restore latest');
  const t0 = Date.now();
  const fresh = await launcher.container(opts.version);
  const tUp = Date.now();
  const r = await owb(['--json', 'restore', 'latest', '--container', fresh.containerName, '--health-timeout', '300'], env);
  const freshApi = new S.OpenWebuiClient(fresh.baseUrl).as(admin);
  const chats = (await freshApi.listChats()).length;
  const t1 = Date.now();
  if (chats !== check) throw new Error(`restored instance serves ${chats} chats, expected ${check}`);
  results.rto = { total_s: (t1 - t0) / 1000, empty_container_start_s: (tUp - t0) / 1000, restore_s: r.duration_s, restore_downtime_s: r.downtime_s };
  results.loadavg_end = os.loadavg().map((x) => x.toFixed(2)).join(' ');
  console.log(JSON.stringify(results, null, 2));
} finally {
  await launcher.disposeAll();
  await fake.close();
  fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(path.join(ROOT, '.bench', 'real-downtime-build'), { recursive: true, force: true });
}
