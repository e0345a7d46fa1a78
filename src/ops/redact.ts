/**
 * Secret scrubbing for everything owb writes or sends (run logs, notifications, metrics labels).
 * Known secrets are replaced wherever they occur; generic patterns catch credentials nobody registered, and
 * which names count as secret is decided in one place (util/secret-detect).
 */
import { isSecretName, maskUrlPasswords } from '../util/secret-detect.js';

/** What a secret is replaced with. */
export const MASK = '***';

/** Shorter strings would mask ordinary words and digits all over a report. */
export const MIN_SECRET_LENGTH = 4;

/** `Authorization: Bearer x`, `"authorization": "Basic x"`, and a bare `Bearer x`. */
const AUTH_HEADER = /\b(authorization["']?\s*[:=]\s*["']?(?:bearer|basic|token|digest)?\s*)[^\s"',;]+/gi;
const BEARER = /\b(bearer\s+)[A-Za-z0-9._~+/=-]+/gi;
/** Env-style assignments, `NAME=value` or `NAME: value`; masked when isSecretName(NAME). */
const ENV_ASSIGNMENT = /()\b([A-Z_][A-Z0-9_]*)(\s*[=:]\s*)(?:"[^"]*"|'[^']*'|[^\s"'&]+)/g;
/** `name=value` words and query parameters (presigned S3 URLs too); masked when isSecretName(name). */
const PARAM_ASSIGNMENT = /(^|[?&;\s,])([A-Za-z][A-Za-z0-9_.-]*)(=)[^&#\s"']+/g;

/**
 * Masks the value of each match of `re` (groups: lead, name, separator) whose name is a secret. A match whose
 * name is not a secret is skipped past its name only, so an assignment inside its value is still seen.
 */
function maskAssignments(text: string, re: RegExp): string {
  let out = '';
  let from = 0;
  re.lastIndex = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const [whole, lead = '', name = '', sep = ''] = m;
    if (isSecretName(name)) {
      out += `${text.slice(from, m.index)}${lead}${name}${sep}${MASK}`;
      from = m.index + whole.length;
    } else {
      re.lastIndex = m.index + lead.length + name.length;
    }
  }
  return out + text.slice(from);
}

/**
 * Replaces secrets in text and structured data. Built from the secrets a run knows (passwords, tokens,
 * AWS secret keys, webhook header values); strings shorter than MIN_SECRET_LENGTH are ignored.
 */
export class Redactor {
  private secrets: string[] = [];

  /** `secrets` may contain undefined/empty entries (unset settings); they are skipped. */
  constructor(secrets: Iterable<string | undefined | null> = []) {
    this.add(...secrets);
  }

  /** Registers more secrets (e.g. a token read later from a file). Also masks their URL-encoded form. */
  add(...secrets: Array<string | undefined | null>): this {
    const next = new Set(this.secrets);
    for (const s of secrets) {
      if (typeof s !== 'string') continue;
      for (const form of [s, s.trim(), encodeURIComponent(s)]) {
        if (form.length >= MIN_SECRET_LENGTH) next.add(form);
      }
    }
    // Longest first, so a secret that contains another is masked whole.
    this.secrets = [...next].sort((a, b) => b.length - a.length);
    return this;
  }

  /** How many distinct secret forms are registered (for tests and diagnostics; never the secrets). */
  get size(): number {
    return this.secrets.length;
  }

  /** Returns `text` with every known secret and every recognised credential pattern masked. */
  redact(text: string): string {
    let out = text;
    for (const s of this.secrets) {
      if (out.includes(s)) out = out.split(s).join(MASK);
    }
    out = maskUrlPasswords(out, MASK)
      .replace(AUTH_HEADER, (_m, head: string) => `${head}${MASK}`)
      .replace(BEARER, (_m, head: string) => `${head}${MASK}`);
    return maskAssignments(maskAssignments(out, ENV_ASSIGNMENT), PARAM_ASSIGNMENT);
  }

  /**
   * Returns a redacted deep copy: strings are redacted, string values under secret-looking keys
   * (password, token, authorization, …) are masked whole, Errors become `{name, message}`.
   * Keys are redacted too. Cycles become "[circular]".
   */
  redactDeep<T>(value: T): T {
    return this.walk(value, undefined, new WeakSet()) as T;
  }

  private walk(value: unknown, key: string | undefined, seen: WeakSet<object>): unknown {
    if (typeof value === 'string') {
      return key !== undefined && isSecretName(key) && value !== '' ? MASK : this.redact(value);
    }
    if (value === null || typeof value !== 'object') return value;
    if (value instanceof Date) return new Date(value.getTime());
    if (seen.has(value)) return '[circular]';
    seen.add(value);
    try {
      if (value instanceof Error) return { name: value.name, message: this.redact(value.message) };
      if (Array.isArray(value)) return value.map((v) => this.walk(v, key, seen));
      if (ArrayBuffer.isView(value)) return `[${value.byteLength} bytes]`;
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[this.redact(k)] = this.walk(v, k, seen);
      return out;
    } finally {
      // A value seen twice without a cycle (shared subtree) is fine; only ancestors count.
      seen.delete(value);
    }
  }
}
