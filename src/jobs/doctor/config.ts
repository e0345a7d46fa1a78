/** Config and secret checks: secrets written into the config file, and the permissions of secret files. */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { OwbConfig } from '../../config/schema.js';
import { Redactor } from '../../ops/redact.js';
import { hasUrlPassword, isSecretName } from '../../util/secret-detect.js';
import type { DoctorItem, SecretFileRef } from './types.js';

/** Judges a secret file's permissions: world-readable fails, group-readable warns. */
export function secretFileItem(ref: SecretFileRef, st: { mode: number } | { error: string }): DoctorItem {
  const name = `secret file ${ref.label}`;
  if ('error' in st) return { name, status: 'WARN', detail: `${ref.path}: cannot check (${st.error})`, fix: 'create it, or fix the path in the setting' };
  const mode = (st.mode & 0o777).toString(8).padStart(3, '0');
  const fix = `chmod 600 ${ref.path}`;
  if (st.mode & 0o004) return { name, status: 'FAIL', detail: `${ref.path} is readable by every user (mode ${mode})`, fix };
  if (st.mode & 0o040) return { name, status: 'WARN', detail: `${ref.path} is readable by its group (mode ${mode})`, fix };
  return { name, status: 'PASS', detail: `${ref.path} (mode ${mode})` };
}

/** Where the YAML holds a secret in plain text: "line 12 (notify.0.headers.X-Api-Key)". Values are never returned. */
export function findInlineSecrets(text: string): string[] {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const out: string[] = [];
  const where = (node: { range?: [number, number, number] | null } | null | undefined, path: string[], why = ''): string =>
    `line ${node?.range ? lines.linePos(node.range[0]).line : '?'} (${path.join('.')}${why})`;
  const walk = (node: unknown, path: string[]): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        const value = pair.value;
        if (isScalar(value) && isSecretName(key) && value.value !== null && String(value.value) !== '') out.push(where(value, [...path, key]));
        else walk(value, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item, [...path, String(i)]));
    } else if (isScalar(node) && typeof node.value === 'string' && hasUrlPassword(node.value)) {
      out.push(where(node, path, ': password in a URL'));
    }
  };
  walk(doc.contents, []);
  return out;
}

/** Judges the config text for secrets written into it. */
export function configSecretsItem(file: string | undefined, text: string | undefined): DoctorItem {
  const name = 'config secrets';
  if (file === undefined || text === undefined) return { name, status: 'PASS', detail: 'no config file' };
  const hits = findInlineSecrets(text);
  if (hits.length === 0) return { name, status: 'PASS', detail: `no secrets written into ${file}` };
  return { name, status: 'FAIL', detail: `${file} holds secrets in plain text at ${hits.join(', ')}`, fix: 'use password_file / *_file settings instead' };
}

/** Every secret file the config and environment name (deduplicated by path, labels joined). */
export function secretFilesOf(cfg: OwbConfig, env: NodeJS.ProcessEnv, extra: readonly SecretFileRef[] = []): SecretFileRef[] {
  const refs: SecretFileRef[] = [];
  for (const [name, r] of Object.entries(cfg.repositories)) if (r.password_file) refs.push({ label: `repositories.${name}.password_file`, path: r.password_file });
  if (cfg.source?.secret_key_file) refs.push({ label: 'source.secret_key_file', path: cfg.source.secret_key_file });
  cfg.notify.forEach((t, i) => {
    if (t.type === 'ntfy' && t.token_file) refs.push({ label: `notify.${i}.token_file`, path: t.token_file });
  });
  refs.push(...extra);
  for (const [k, v] of Object.entries(env)) {
    if (v && k.endsWith('_FILE') && isSecretName(k.slice(0, -'_FILE'.length))) refs.push({ label: k, path: v });
  }
  const byPath = new Map<string, SecretFileRef>();
  for (const r of refs) {
    const p = resolve(r.path);
    const seen = byPath.get(p);
    byPath.set(p, seen ? { ...seen, label: `${seen.label}, ${r.label}` } : r);
  }
  return [...byPath.values()];
}

/** Judges every secret file the config, the flags and the environment name. */
export async function checkSecretFiles(cfg: OwbConfig, env: NodeJS.ProcessEnv, extra?: readonly SecretFileRef[]): Promise<DoctorItem[]> {
  const items: DoctorItem[] = [];
  for (const ref of secretFilesOf(cfg, env, extra)) {
    const st = await stat(ref.path).then(
      (s) => ({ mode: s.mode }),
      (err: NodeJS.ErrnoException) => ({ error: err.code ?? 'error' }),
    );
    items.push(secretFileItem(ref, st));
  }
  return items;
}

/** A URL with any password or credential parameter in it masked, for the report. */
export function redactUrl(url: string): string {
  return new Redactor().redact(url);
}
