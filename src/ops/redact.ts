/**
 * Secret scrubbing for everything owb writes or sends (run logs, notifications, metrics labels).
 * Known secrets are replaced wherever they occur; generic patterns catch credentials nobody registered.
 */

/** What a secret is replaced with. */
export const MASK = '***';

/** Shorter strings would mask ordinary words and digits all over a report. */
export const MIN_SECRET_LENGTH = 4;

/** `scheme://user:password@host` — keep the user, hide the password. */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s:/@?#"'<>]*):([^\s@/?#"'<>]+)@/gi;
/** `Authorization: Bearer x`, `"authorization": "Basic x"`, and a bare `Bearer x`. */
const AUTH_HEADER = /\b(authorization["']?\s*[:=]\s*["']?(?:bearer|basic|token|digest)?\s*)[^\s"',;]+/gi;
const BEARER = /\b(bearer\s+)[A-Za-z0-9._~+/=-]+/gi;
/** Env-style assignments of secret-looking names; *_FILE names hold paths, not secrets. */
const ENV_SECRET = /\b([A-Z0-9_]*(?:SECRET|PASSWORD|PASSWD|TOKEN|API_KEY|PRIVATE_KEY)[A-Z0-9_]*)(?<!_FILE)(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s"'&]+)/g;
/** Query parameters (and `key=value` words) that carry credentials, including presigned S3 URLs. */
const PARAM_SECRET =
  /(^|[?&;\s,])((?:password|passwd|pass|pwd|token|access_token|refresh_token|auth|secret|client_secret|api_key|apikey|x-amz-signature|x-amz-security-token|x-amz-credential|signature|sig)=)[^&#\s"']+/gi;
/** Object keys whose string values are secrets as a whole, wherever they appear in structured data. */
const SECRET_KEY = /^(?!.*_?file$).*(?:password|passwd|secret|token|authorization|api[_-]?key|private[_-]?key|credential)/i;

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
    return out
      .replace(URL_CREDENTIALS, (_m, scheme: string, user: string) => `${scheme}${user}:${MASK}@`)
      .replace(AUTH_HEADER, (_m, head: string) => `${head}${MASK}`)
      .replace(BEARER, (_m, head: string) => `${head}${MASK}`)
      .replace(ENV_SECRET, (_m, name: string, sep: string) => `${name}${sep}${MASK}`)
      .replace(PARAM_SECRET, (_m, lead: string, name: string) => `${lead}${name}${MASK}`);
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
      return key !== undefined && SECRET_KEY.test(key) && value !== '' ? MASK : this.redact(value);
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
