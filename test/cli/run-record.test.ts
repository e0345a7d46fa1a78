import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTemp, makeTemp, runCli, runOk, writePassword, writeRandomFile } from '../support/cli.js';

interface Received {
  path: string;
  body: string;
}

/** Every CLI job run leaves a report, a JSON line, metrics and notifications; secrets appear in none. */
describe('run records', () => {
  let dir: string;
  let server: Server;
  let received: Received[] = [];
  let config: string;
  const PASSWORD = 'record-password-7f3a9c';

  beforeAll(async () => {
    dir = await makeTemp('owb-record-');
    server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (d: string) => (body += d));
      req.on('end', () => {
        received.push({ path: req.url ?? '', body });
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const pw = await writePassword(dir, PASSWORD);
    config = join(dir, 'owb.yaml');
    await writeFile(
      config,
      [
        'default_repository: main',
        'repositories:',
        `  main: { url: ${join(dir, 'repo')}, password_file: ${pw} }`,
        `state_dir: ${join(dir, 'state')}`,
        `logs: { dir: ${join(dir, 'logs')}, keep_count: 50 }`,
        `metrics: { textfile: ${join(dir, 'owb.prom')} }`,
        'notify:',
        `  - { type: webhook, url: "http://127.0.0.1:${port}/hook", on: [start, success, failure] }`,
        `  - { type: healthchecks, url: "http://127.0.0.1:${port}/ping/abc" }`,
        '',
      ].join('\n'),
    );
    await mkdir(join(dir, 'src'));
    await writeRandomFile(join(dir, 'src', 'a.bin'), 200_000, 'a');
    await runOk(['init'], { env: { OWB_CONFIG: config } });
  });

  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await cleanupTemp();
  });

  it('records a successful backup: report, JSON line, metrics, start and success notifications', async () => {
    received = [];
    await runOk(['backup', join(dir, 'src')], { env: { OWB_CONFIG: config } });
    const logs = await readdir(join(dir, 'logs'));
    const report = logs.find((n) => n.endsWith('-backup.log'));
    expect(report).toBeDefined();
    const text = await readFile(join(dir, 'logs', report!), 'utf8');
    expect(text).toMatch(/back up/);
    expect(text).toMatch(/snapshot_id/);
    const lines = (await readFile(join(dir, 'logs', 'owb.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { job: string; ok: boolean });
    expect(lines.at(-1)).toMatchObject({ job: 'backup', ok: true });
    const prom = await readFile(join(dir, 'owb.prom'), 'utf8');
    expect(prom).toMatch(/owb_last_success_timestamp_seconds\{job="backup"\} \d+/);
    expect(prom).toMatch(/owb_runs_total\{job="backup"\} 1/);
    const paths = received.map((r) => r.path);
    expect(paths.filter((p) => p === '/hook')).toHaveLength(2);
    expect(paths.some((p) => /^\/ping\/abc\/start(\?|$)/.test(p))).toBe(true);
    expect(paths.some((p) => /^\/ping\/abc(\?|$)/.test(p))).toBe(true);
    const hooks = received.filter((r) => r.path === '/hook').map((r) => JSON.parse(r.body) as { event: string });
    expect(hooks.map((h) => h.event)).toEqual(['start', 'success']);
  });

  it('records a failed run with a failure notification, and never leaks the password', async () => {
    received = [];
    // The repository vanishes: the next backup fails (exit 10) and must say so everywhere.
    const r = await runCli(['--repo', join(dir, 'missing-repo'), 'backup', join(dir, 'src')], { env: { OWB_CONFIG: config, OWB_PASSWORD: PASSWORD } });
    expect(r.code).toBe(10);
    const hooks = received.filter((x) => x.path === '/hook').map((x) => JSON.parse(x.body) as { event: string; error?: string });
    expect(hooks.at(-1)).toMatchObject({ event: 'failure' });
    expect(received.some((x) => x.path.startsWith('/ping/abc/fail'))).toBe(true);
    const prom = await readFile(join(dir, 'owb.prom'), 'utf8');
    expect(prom).toMatch(/owb_failures_total\{job="backup"\} 1/);
    const everything = [
      r.stdout,
      r.stderr,
      ...received.map((x) => x.path + x.body),
      ...(await Promise.all((await readdir(join(dir, 'logs'))).map((n) => readFile(join(dir, 'logs', n), 'utf8')))),
      prom,
    ].join('\n');
    expect(everything).not.toContain(PASSWORD);
  });
});
