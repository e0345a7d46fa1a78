import { describe, expect, it } from 'vitest';
import { defaultLogDir, defaultStateDir, OpsConfigSchema, parseListen } from './ops-schema.js';

/** The first issue's "path: message" for an invalid input. */
function issueOf(input: unknown): string {
  const r = OpsConfigSchema.safeParse(input);
  expect(r.success).toBe(false);
  const issue = r.error!.issues[0]!;
  return `${issue.path.join('.')}: ${issue.message}`;
}

describe('ops config schema', () => {
  it('fills every default from an empty config', () => {
    const cfg = OpsConfigSchema.parse({});
    expect(cfg).toEqual({ logs: { dir: defaultLogDir(), keep_days: 90, keep_count: 500 }, notify: [], metrics: {} });
  });

  it('defaults `on` per target type and the ntfy server', () => {
    const cfg = OpsConfigSchema.parse({
      notify: [
        { type: 'healthchecks', url: 'https://hc-ping.com/0f1e2d3c-0000-4000-8000-000000000000' },
        { type: 'webhook', url: 'https://hooks.example/owb', headers: { Authorization: 'Bearer x' } },
        { type: 'ntfy', topic: 'owb-alerts', priority: 'low', token_file: '/run/secrets/ntfy' },
        { type: 'webhook', url: 'http://127.0.0.1:8080/x', on: ['start', 'success'] },
      ],
    });
    expect(cfg.notify.map((t) => t.on)).toEqual([['start', 'success', 'failure'], ['failure'], ['failure'], ['start', 'success']]);
    expect(cfg.notify[2]).toMatchObject({ type: 'ntfy', url: 'https://ntfy.sh', topic: 'owb-alerts', priority: 'low' });
  });

  it('derives the log dir from XDG_STATE_HOME (also as root), else /var/log/owb as root', () => {
    expect(defaultLogDir({ XDG_STATE_HOME: '/x/state' }, 1000)).toBe('/x/state/owb/logs');
    expect(defaultLogDir({ XDG_STATE_HOME: '/x/state' }, 0)).toBe('/x/state/owb/logs');
    expect(defaultLogDir({}, 0)).toBe('/var/log/owb');
    expect(defaultStateDir({ XDG_STATE_HOME: '/x/state' }, 0)).toBe('/x/state/owb');
    expect(defaultLogDir({}, 1000)).toMatch(/\/\.local\/state\/owb\/logs$/);
    expect(defaultStateDir({}, 0)).toBe('/var/lib/owb');
  });

  it('rejects bad values and names the key', () => {
    expect(issueOf({ logs: { keep_days: -1 } })).toMatch(/^logs\.keep_days: /);
    expect(issueOf({ logs: { dir: '/x', extra: 1 } })).toMatch(/^logs: .*extra/);
    expect(issueOf({ notify: [{ type: 'email', url: 'x' }] })).toMatch(/^notify\.0\.type: /);
    expect(issueOf({ notify: [{ type: 'webhook', url: 'ftp://x/y' }] })).toBe('notify.0.url: must be an http:// or https:// URL');
    expect(issueOf({ notify: [{ type: 'healthchecks', url: 'https://hc/x', on: ['finish'] }] })).toMatch(/^notify\.0\.on\.0: /);
    expect(issueOf({ notify: [{ type: 'ntfy', topic: 'has space' }] })).toMatch(/^notify\.0\.topic: /);
    expect(issueOf({ notify: [{ type: 'ntfy', topic: 't', priority: 7 }] })).toMatch(/^notify\.0\.priority: /);
    expect(issueOf({ notify: [{ type: 'webhook', url: 'https://h/x', headers: { 'bad header': 'v' } }] })).toMatch(/^notify\.0\.headers/);
    expect(issueOf({ metrics: { textfile: '/var/lib/node_exporter/owb.txt' } })).toBe(
      'metrics.textfile: must end in .prom (node_exporter reads only *.prom files)',
    );
    expect(issueOf({ metrics: { listen: '9184' } })).toMatch(/^metrics\.listen: must be host:port/);
  });

  it('parses listen addresses', () => {
    expect(parseListen('127.0.0.1:9184')).toEqual({ host: '127.0.0.1', port: 9184 });
    expect(parseListen('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseListen('localhost:80')).toEqual({ host: 'localhost', port: 80 });
    expect(parseListen(':9184')).toBeUndefined();
    expect(parseListen('host:70000')).toBeUndefined();
    expect(parseListen('host')).toBeUndefined();
  });
});
