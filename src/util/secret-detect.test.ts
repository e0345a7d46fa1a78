import { describe, expect, it } from 'vitest';
import { hasUrlPassword, isSecretName, maskUrlPasswords } from './secret-detect.js';

describe('isSecretName', () => {
  it.each([
    // Setting, header and variable names the doctor and the schedule writers judge.
    ['password', true],
    ['Password', true],
    ['db_pass', true],
    ['secret', true],
    ['X-Api-Key', true],
    ['apiKey', true],
    ['Authorization', true],
    ['auth_token', true],
    ['AWS_SECRET_ACCESS_KEY', true],
    ['password_file', false],
    ['secret_key_file', false],
    ['token_file', false],
    ['AWS_ACCESS_KEY_ID', false],
    ['keep_daily', false],
    ['passive', false],
    ['url', false],
    ['content-type', false],
  ])('%s → %s', (key, secret) => expect(isSecretName(key)).toBe(secret));

  it.each([
    // What only the redactor knew: stems inside longer words, query parameters of signed URLs, private keys.
    ['tokens', true],
    ['passwords', true],
    ['GITHUBTOKEN', true],
    ['client_secret', true],
    ['access_token', true],
    ['x-amz-signature', true],
    ['X-Amz-Credential', true],
    ['x-amz-security-token', true],
    ['sig', true],
    ['private_key', true],
    ['privateKey', true],
    ['PRIVATEKEY', true],
    // What only the doctor knew: short words, passphrases, bare keys.
    ['pw', true],
    ['pwd', true],
    ['OWB_SFTP_KEY_PASSPHRASE', true],
    ['auth', true],
    ['key', true],
  ])('the union covers %s', (key, secret) => expect(isSecretName(key)).toBe(secret));

  it.each([
    ['passwordFile', false],
    ['passwordfile', false],
    ['token_path', false],
    ['key_dir', false],
    ['key_id', false],
    ['secret_name', false],
    ['OWB_PASSWORD_FILE', false],
    ['monkey', false],
    ['keys_total', false],
    ['snapshot_id', false],
    ['bytes_added', false],
    ['container', false],
    ['', false],
  ])('a reference to a secret, or an ordinary name, is not one: %s → %s', (key, secret) => expect(isSecretName(key)).toBe(secret));
});

describe('hasUrlPassword / maskUrlPasswords', () => {
  it('finds and masks the password of URLs, keeping scheme, user and host', () => {
    const text = 'repo sftp://backup:hunter2@nas:22/owb and s3:https://AKIA:wJalr@s3.example/b';
    expect(hasUrlPassword(text)).toBe(true);
    expect(maskUrlPasswords(text, '***')).toBe('repo sftp://backup:***@nas:22/owb and s3:https://AKIA:***@s3.example/b');
    expect(maskUrlPasswords('https://:token-only@host/x', '***')).toBe('https://:***@host/x');
  });

  it('leaves URLs without a password alone', () => {
    for (const text of ['sftp://backup@nas/srv', 'https://host/a:b@c', 's3:https://host/bucket', 'postgresql://db/openwebui']) {
      expect(hasUrlPassword(text)).toBe(false);
      expect(maskUrlPasswords(text, '***')).toBe(text);
    }
  });

  it('answers the same on every call (no regex state carried over)', () => {
    const url = 'sftp://u:p@h/x';
    expect([hasUrlPassword(url), hasUrlPassword(url), hasUrlPassword(url)]).toEqual([true, true, true]);
  });
});
