/**
 * Which names hold a secret (settings, headers, variables, query parameters, JSON keys) and which URLs carry a
 * password. One rule for the doctor's config scan, the redactor and the schedule writers: a name one of them
 * treats as a secret is a secret to all of them.
 */

/** Words that name a secret on their own: `password`, `db_pass`, `X-Api-Key`, `auth_token`, `X-Amz-Signature`. */
const SECRET_WORDS = new Set([
  'password',
  'passwd',
  'pass',
  'passphrase',
  'pwd',
  'pw',
  'secret',
  'token',
  'key',
  'apikey',
  'authorization',
  'auth',
  'credential',
  'credentials',
  'signature',
  'sig',
]);

/** Stems that mark a secret even inside a longer word: `tokens`, `passwords`, `GITHUBTOKEN`, `clientsecret`. */
const SECRET_STEMS = ['password', 'passwd', 'passphrase', 'secret', 'token', 'credential', 'apikey', 'privatekey'];

/** A last word that names where a secret is, or which one, rather than the secret: `password_file`, `key_id`. */
const REFERENCE_WORDS = new Set(['file', 'path', 'dir', 'id', 'name']);

/** The same glued to the word before it: `passwordfile`, `tokenpath`. */
const REFERENCE_SUFFIX = /(?:file|path|dir)$/;

/** `scheme://user:password@` (the user may be empty); group 1 is everything up to the password. */
const URL_CREDENTIALS_SOURCE = String.raw`\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@?#"'<>]*:)[^\s@/?#"'<>]+@`;
const URL_CREDENTIALS_ONE = new RegExp(URL_CREDENTIALS_SOURCE, 'i');
const URL_CREDENTIALS_ALL = new RegExp(URL_CREDENTIALS_SOURCE, 'gi');

/** The lower-case words of a name: `X-Api-Key` → x, api, key; `apiKey` → api, key; `AWS_SECRET_ACCESS_KEY` → aws, secret, access, key. */
function nameWords(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

/**
 * True when a name says its value is a secret: one of its words is a secret word (password, pass, pw, pwd,
 * passphrase, secret, token, key, apikey, auth, authorization, credential(s), signature, sig) or contains a
 * secret stem (password, passwd, passphrase, secret, token, credential, apikey, privatekey). False when the
 * last word names a reference to a secret instead (file, path, dir, id, name, or file/path/dir glued on), as
 * in `password_file`, `AWS_ACCESS_KEY_ID` or `token_file`: those values are paths and ids, never secrets.
 */
export function isSecretName(name: string): boolean {
  const words = nameWords(name);
  const last = words[words.length - 1];
  if (last === undefined || REFERENCE_WORDS.has(last) || REFERENCE_SUFFIX.test(last)) return false;
  return words.some((w) => SECRET_WORDS.has(w) || SECRET_STEMS.some((stem) => w.includes(stem)));
}

/** True when `text` holds a URL with a password in it (`sftp://backup:pw@nas/…`, `https://:token@host`). */
export function hasUrlPassword(text: string): boolean {
  return URL_CREDENTIALS_ONE.test(text);
}

/** `text` with the password of every URL in it replaced by `mask`; the scheme, user and host stay. */
export function maskUrlPasswords(text: string, mask: string): string {
  return text.replace(URL_CREDENTIALS_ALL, (_m, head: string) => `${head}${mask}@`);
}
