import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import { MetricsListenError, MetricsState, serveMetrics } from './metrics.js';
import { Redactor } from './redact.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Parsed {
  help: Map<string, string>;
  type: Map<string, string>;
  samples: Sample[];
}

/** Parses the text exposition format (strictly enough to catch bad escaping or ordering; empty lines are ignored, as the format says). */
function parseExposition(text: string): Parsed {
  const out: Parsed = { help: new Map(), type: new Map(), samples: [] };
  expect(text.endsWith('\n')).toBe(true);
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      const map = meta[1] === 'HELP' ? out.help : out.type;
      expect(map.has(meta[2]!), `duplicate ${meta[1]} for ${meta[2]}`).toBe(false);
      map.set(meta[2]!, meta[3]!);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`bad line: ${JSON.stringify(line)}`);
    expect(out.type.has(m[1]!), `TYPE must precede samples of ${m[1]}`).toBe(true);
    out.samples.push({ name: m[1]!, labels: parseLabels(m[2] ?? ''), value: Number(m[3]) });
  }
  return out;
}

function parseLabels(src: string): Record<string, string> {
  const labels: Record<string, string> = {};
  if (!src) return labels;
  let i = 1;
  while (src[i] !== '}') {
    const eq = src.indexOf('=', i);
    const name = src.slice(i, eq);
    expect(src[eq + 1]).toBe('"');
    let v = '';
    let j = eq + 2;
    for (; src[j] !== '"'; j++) {
      if (j >= src.length) throw new Error('unterminated label value');
      if (src[j] === '\\') {
        const next = src[++j];
        if (next === 'n') v += '\n';
        else if (next === '\\' || next === '"') v += next;
        else throw new Error(`bad escape \\${next}`);
      } else {
        v += src[j];
      }
    }
    labels[name] = v;
    i = j + 1;
    if (src[i] === ',') i++;
  }
  expect(i).toBe(src.length - 1);
  return labels;
}

function value(p: Parsed, name: string, labels: Record<string, string>): number | undefined {
  return p.samples.find((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels))?.value;
}

/** Prometheus' own checker (promtool, from Debian's prometheus package): parser plus lint rules. */
function promtoolCheck(text: string): void {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  expect(r.error, 'promtool must be installed (apt package prometheus)').toBeUndefined();
  expect(`${r.stdout}${r.stderr}`.trim()).toBe('');
  expect(r.status).toBe(0);
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'owb-metrics-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A state with a failed and a successful backup run and two repositories. */
function sampleState(opts: ConstructorParameters<typeof MetricsState>[0] = {}): MetricsState {
  const m = new MetricsState(opts);
  m.recordRun({ job: 'backup', ok: true, exitCode: 0, durationS: 42.5, time: new Date(1_790_000_000_000), bytesAdded: 1234, bytesStored: 567, downtimeS: 0.25 });
  m.recordRun({ job: 'backup', ok: false, exitCode: 11, durationS: 1.5, time: new Date(1_790_086_400_000) });
  m.recordRun({ job: 'drill', ok: true, exitCode: 0, durationS: 300, time: new Date(1_790_050_000_000) });
  m.setRepository('nas', { snapshots: 17, sizeBytes: 9_876_543_210 });
  m.setRepository('b2', { snapshots: 5 });
  return m;
}

describe('MetricsState.render', () => {
  it('renders every family with HELP/TYPE and the recorded values', async () => {
    const text = await sampleState().render();
    const p = parseExposition(text);
    const b = { job: 'backup' };
    expect(value(p, 'owb_last_success_timestamp_seconds', b)).toBe(1_790_000_000);
    expect(value(p, 'owb_last_run_timestamp_seconds', b)).toBe(1_790_086_400);
    expect(value(p, 'owb_last_duration_seconds', b)).toBe(1.5);
    expect(value(p, 'owb_last_exit_code', b)).toBe(11);
    expect(value(p, 'owb_runs_total', b)).toBe(2);
    expect(value(p, 'owb_failures_total', b)).toBe(1);
    // Sizes and downtime stay from the last run that reported them.
    expect(value(p, 'owb_backup_bytes_added', b)).toBe(1234);
    expect(value(p, 'owb_backup_bytes_stored', b)).toBe(567);
    expect(value(p, 'owb_downtime_seconds', b)).toBe(0.25);
    expect(value(p, 'owb_failures_total', { job: 'drill' })).toBe(0);
    expect(value(p, 'owb_backup_bytes_added', { job: 'drill' })).toBeUndefined();
    expect(value(p, 'owb_snapshots', { repository: 'nas' })).toBe(17);
    expect(value(p, 'owb_snapshots', { repository: 'b2' })).toBe(5);
    expect(value(p, 'owb_repository_size_bytes', { repository: 'nas' })).toBe(9_876_543_210);
    expect(value(p, 'owb_repository_size_bytes', { repository: 'b2' })).toBeUndefined();
    expect(p.type.get('owb_runs_total')).toBe('counter');
    expect(p.type.get('owb_failures_total')).toBe('counter');
    expect(p.type.get('owb_last_exit_code')).toBe('gauge');
    expect([...p.type.keys()]).toHaveLength(11);
    expect([...p.help.keys()].sort()).toEqual([...p.type.keys()].sort());
    promtoolCheck(text);
  });

  it('escapes label values so they parse back exactly', async () => {
    const weird = 'we"ird\\job\nname {x="y"}';
    const m = new MetricsState();
    m.recordRun({ job: weird, ok: true, exitCode: 0, durationS: 1 });
    m.setRepository('C:\\backups\\"q"', { snapshots: 1 });
    const text = await m.render();
    expect(text).toContain('owb_runs_total{job="we\\"ird\\\\job\\nname {x=\\"y\\"}"} 1');
    const p = parseExposition(text);
    expect(value(p, 'owb_runs_total', { job: weird })).toBe(1);
    expect(value(p, 'owb_snapshots', { repository: 'C:\\backups\\"q"' })).toBe(1);
    promtoolCheck(text);
  });

  it('renders an empty state as HELP/TYPE lines only, which Prometheus accepts', async () => {
    const text = await new MetricsState().render();
    expect(parseExposition(text).samples).toEqual([]);
    promtoolCheck(text);
  });

  it('redacts credentials in repository labels', async () => {
    const m = new MetricsState({ redactor: new Redactor() });
    m.setRepository('s3:https://AKIA:verysecretkey@s3.example/b', { snapshots: 2 });
    const text = await m.render();
    expect(text).not.toContain('verysecretkey');
    expect(value(parseExposition(text), 'owb_snapshots', { repository: 's3:https://AKIA:***@s3.example/b' })).toBe(2);
  });
});

describe('MetricsState persistence', () => {
  it('counters survive a save/load cycle and keep counting', async () => {
    const path = join(dir, 'metrics.json');
    const a = sampleState({ path });
    await a.save();
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const b = await MetricsState.load({ path });
    expect(b.loadProblem).toBeUndefined();
    expect(await b.render()).toBe(await a.render());
    b.recordRun({ job: 'backup', ok: false, exitCode: 1, durationS: 2 });
    await b.save();
    const c = await MetricsState.load({ path });
    expect(c.job('backup')).toMatchObject({ runs: 3, failures: 2, last_exit_code: 1, last_success: 1_790_000_000 });
  });

  it('starts afresh from a missing or corrupt file and says why', async () => {
    const missing = await MetricsState.load({ path: join(dir, 'none.json') });
    expect(missing.loadProblem).toBeUndefined();
    expect(missing.job('backup')).toBeUndefined();
    const path = join(dir, 'bad.json');
    await writeFile(path, '{"version": 1, "jobs": {"backup": {"runs": "many"}}}');
    const bad = await MetricsState.load({ path });
    expect(bad.loadProblem).toMatch(/corrupt/);
    expect(bad.job('backup')).toBeUndefined();
  });
});

describe('MetricsState.writeTextfile', () => {
  it('writes the rendered text atomically with a .prom name, readable by node_exporter', async () => {
    const m = sampleState();
    const path = join(dir, 'owb.prom');
    await writeFile(path, 'old content\n');
    // A hardened service runs with umask 077; the collector (another user) must still read the file.
    const old = process.umask(0o077);
    try {
      await m.writeTextfile(path);
    } finally {
      process.umask(old);
    }
    expect(await readFile(path, 'utf8')).toBe(await m.render());
    expect((await stat(path)).mode & 0o777).toBe(0o644);
    expect(await readdir(dir)).toEqual(['owb.prom']);
  });

  it('refuses a name node_exporter would ignore', async () => {
    await expect(sampleState().writeTextfile(join(dir, 'owb.txt'))).rejects.toBeInstanceOf(UsageError);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('serveMetrics', () => {
  it('serves /metrics over HTTP, 404 elsewhere, 405 for POST, and closes', async () => {
    const m = sampleState();
    const srv = await serveMetrics('127.0.0.1:0', m);
    try {
      expect(srv.url).toBe(`http://127.0.0.1:${srv.port}/metrics`);
      const res = await fetch(srv.url);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      const body = await res.text();
      expect(value(parseExposition(body), 'owb_runs_total', { job: 'backup' })).toBe(2);
      // Each scrape renders the current state.
      m.recordRun({ job: 'backup', ok: true, exitCode: 0, durationS: 1 });
      const again = parseExposition(await (await fetch(`${srv.url}?x=1`)).text());
      expect(value(again, 'owb_runs_total', { job: 'backup' })).toBe(3);
      const head = await fetch(srv.url, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(await head.text()).toBe('');
      expect((await fetch(`http://127.0.0.1:${srv.port}/`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${srv.port}/metrics/x`)).status).toBe(404);
      const post = await fetch(srv.url, { method: 'POST', body: 'x' });
      expect(post.status).toBe(405);
      expect(post.headers.get('allow')).toBe('GET, HEAD');
    } finally {
      await srv.close();
    }
    await expect(fetch(srv.url)).rejects.toThrow();
  });

  it('serves a render function and reports a busy port as a typed error', async () => {
    const srv = await serveMetrics('127.0.0.1:0', () => '# HELP x y\n# TYPE x gauge\nx 1\n');
    try {
      expect(await (await fetch(srv.url)).text()).toBe('# HELP x y\n# TYPE x gauge\nx 1\n');
      await expect(serveMetrics(`127.0.0.1:${srv.port}`, new MetricsState())).rejects.toBeInstanceOf(MetricsListenError);
    } finally {
      await srv.close();
    }
  });

  it('rejects a malformed listen address', async () => {
    await expect(serveMetrics('9184', new MetricsState())).rejects.toBeInstanceOf(UsageError);
  });

  it('binds IPv6 loopback when asked', async () => {
    // Skip nothing: if ::1 is unavailable this machine cannot serve [::1] and the error must be typed.
    const probe = createServer();
    const v6 = await new Promise<boolean>((res) => {
      probe.once('error', () => res(false));
      probe.listen(0, '::1', () => probe.close(() => res(true)));
    });
    if (!v6) {
      await expect(serveMetrics('[::1]:0', new MetricsState())).rejects.toBeInstanceOf(MetricsListenError);
      return;
    }
    const srv = await serveMetrics('[::1]:0', sampleState());
    try {
      expect(srv.url).toBe(`http://[::1]:${srv.port}/metrics`);
      expect((await fetch(srv.url)).status).toBe(200);
    } finally {
      await srv.close();
    }
  });
});
