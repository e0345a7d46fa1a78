/** The human-readable run report (one file per run) and the small formatters it and the file names use. */
import { formatBytes } from '../util/format-bytes.js';
import type { EventRecord, RunRecord, RunValue } from './run-record.js';

/** `2026-11-26T09-15-02Z`: ISO time without milliseconds or colons (colons are bad in file names). */
export function fileStamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/:/g, '-');
}

/** Renders the human-readable report. */
export function renderReport(r: RunRecord, end: Date): string {
  const lines: string[] = [];
  const verdict = r.ok ? 'OK' : 'FAILED';
  lines.push(`owb ${r.job}: ${verdict} (exit ${r.exit_code})`, '');
  const kv = (k: string, v: string) => lines.push(`${k.padEnd(10)} ${v}`);
  kv('run', r.run_id);
  kv('host', r.host);
  kv('started', humanTime(r.time));
  kv('finished', humanTime(end.toISOString()));
  kv('duration', formatSeconds(r.duration_s));
  lines.push('', 'Steps');
  if (r.steps.length === 0) lines.push('  (none)');
  const nameW = Math.max(4, ...r.steps.map((s) => s.name.length));
  for (const s of r.steps) {
    const status = s.ok === null ? 'UNFINISHED' : s.ok ? 'ok' : 'FAILED';
    const dur = s.duration_s === null ? '-' : formatSeconds(s.duration_s);
    lines.push(`  ${clock(s.start)}  ${s.name.padEnd(nameW)}  ${dur.padStart(10)}  ${status}${s.detail ? `  ${s.detail}` : ''}`);
  }
  if (r.events.length > 0) {
    lines.push('', 'Events');
    const kindW = Math.max(...r.events.map((e) => e.kind.length));
    for (const e of r.events) lines.push(`  ${clock(e.time)}  ${e.kind.padEnd(kindW)}  ${detailText(e.detail)}`.trimEnd());
  }
  const keys = Object.keys(r.values);
  if (keys.length > 0) {
    lines.push('', 'Values');
    const keyW = Math.max(...keys.map((k) => k.length));
    for (const k of keys) lines.push(`  ${k.padEnd(keyW)}  ${valueText(k, r.values[k]!)}`);
  }
  lines.push('', 'Result', `  ${r.ok ? 'success' : 'failure'}, exit code ${r.exit_code}`);
  if (r.error !== undefined) {
    lines.push('', 'Error');
    for (const l of r.error.split('\n')) lines.push(`  ${l}`);
  }
  return `${lines.join('\n')}\n`;
}

function humanTime(iso: string): string {
  return iso.replace('T', ' ').replace('Z', ' UTC');
}

function clock(iso: string): string {
  return iso.slice(11, 23);
}

function detailText(d: EventRecord['detail']): string {
  if (d === undefined) return '';
  if (typeof d === 'string') return d;
  return Object.entries(d)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}

/** Keys naming bytes print as sizes, keys in seconds as durations. */
function valueText(key: string, v: RunValue): string {
  if (typeof v !== 'number') return String(v);
  if (/bytes/i.test(key)) return `${formatBytes(v)}${Math.abs(v) >= 1024 ? ` (${v} bytes)` : ''}`;
  if (/(_s|_seconds|downtime|duration)$/i.test(key)) return formatSeconds(v);
  return String(v);
}


/** 0.4113 → "0.411 s", 125.5 → "2m 05.5s", 3723 → "1h 02m 03s". */
export function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(3)} s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m ${String(Math.floor(sec)).padStart(2, '0')}s`;
  return `${m}m ${sec.toFixed(1).padStart(4, '0')}s`;
}
