import { describe, expect, it } from 'vitest';
import { MASK, Redactor } from './redact.js';

describe('Redactor.redact', () => {
  it('masks every occurrence of a known secret, and its URL-encoded form', () => {
    const r = new Redactor(['hunter2!pw/x', undefined, null, '']);
    expect(r.redact('pw hunter2!pw/x and again hunter2!pw/x')).toBe(`pw ${MASK} and again ${MASK}`);
    expect(r.redact(`url ?p=${encodeURIComponent('hunter2!pw/x')}`)).toBe(`url ?p=${MASK}`);
  });

  it('ignores secrets shorter than 4 characters', () => {
    const r = new Redactor(['abc', 'a']);
    expect(r.size).toBe(0);
    expect(r.redact('abc a cab')).toBe('abc a cab');
  });

  it('masks a longer secret whole when it contains a shorter one', () => {
    const r = new Redactor(['s3cr', 's3cr3t-longer']);
    expect(r.redact('x s3cr3t-longer y s3cr z')).toBe(`x ${MASK} y ${MASK} z`);
  });

  it('accepts secrets added later', () => {
    const r = new Redactor();
    expect(r.redact('tok-12345')).toBe('tok-12345');
    r.add('tok-12345');
    expect(r.redact('tok-12345')).toBe(MASK);
  });

  it('hides passwords inside URLs but keeps the user and host', () => {
    const r = new Redactor();
    expect(r.redact('repo s3:https://AKIAXYZ:wJalrXUtnFEMI@s3.example.com/bucket failed')).toBe(
      `repo s3:https://AKIAXYZ:${MASK}@s3.example.com/bucket failed`,
    );
    expect(r.redact('sftp://backup:pa55word@nas:2222/srv')).toBe(`sftp://backup:${MASK}@nas:2222/srv`);
    expect(r.redact('postgresql://owui:dbpass@db/openwebui')).toBe(`postgresql://owui:${MASK}@db/openwebui`);
    // No password, nothing to hide.
    expect(r.redact('sftp://backup@nas/srv and https://host/a:b@c')).toBe('sftp://backup@nas/srv and https://host/a:b@c');
  });

  it('hides secret env assignments but not *_FILE paths or key ids', () => {
    const r = new Redactor();
    expect(r.redact('AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG AWS_ACCESS_KEY_ID=AKIA1234')).toBe(
      `AWS_SECRET_ACCESS_KEY=${MASK} AWS_ACCESS_KEY_ID=AKIA1234`,
    );
    expect(r.redact('OWB_PASSWORD="two words" OWB_PASSWORD_FILE=/run/secrets/pw')).toBe(
      `OWB_PASSWORD=${MASK} OWB_PASSWORD_FILE=/run/secrets/pw`,
    );
    expect(r.redact('WEBUI_SECRET_KEY: abcdef')).toBe(`WEBUI_SECRET_KEY: ${MASK}`);
  });

  it('hides credential query parameters, including presigned S3 signatures', () => {
    const r = new Redactor();
    expect(r.redact('GET https://h/x?user=a&password=p4ss&token=t0k#frag')).toBe(`GET https://h/x?user=a&password=${MASK}&token=${MASK}#frag`);
    expect(r.redact('https://b.s3/o?X-Amz-Credential=AK%2F1&X-Amz-Signature=deadbeef&x=1')).toBe(
      `https://b.s3/o?X-Amz-Credential=${MASK}&X-Amz-Signature=${MASK}&x=1`,
    );
    expect(r.redact('login with password=abc123 failed')).toBe(`login with password=${MASK} failed`);
  });

  it('hides Authorization headers and bearer tokens in any casing', () => {
    const r = new Redactor();
    expect(r.redact('Authorization: Bearer tk_abc.def-123')).toBe(`Authorization: Bearer ${MASK}`);
    expect(r.redact('authorization: Basic dXNlcjpwYXNz')).toBe(`authorization: Basic ${MASK}`);
    expect(r.redact('{"Authorization":"Bearer abc123"}')).toBe(`{"Authorization":"Bearer ${MASK}"}`);
    expect(r.redact('sent bearer xyz987 upstream')).toBe(`sent bearer ${MASK} upstream`);
  });

  it('judges assignment names by the shared secret-name rule', () => {
    const r = new Redactor();
    expect(r.redact('DB_PASS=hunter22 OWB_SFTP_KEY_PASSPHRASE: pp-1234 GITHUBTOKEN=ghp_x SFTP_KEY_ID=k1')).toBe(
      `DB_PASS=${MASK} OWB_SFTP_KEY_PASSPHRASE: ${MASK} GITHUBTOKEN=${MASK} SFTP_KEY_ID=k1`,
    );
    expect(r.redact('https://acct.blob/c?sv=2024&sig=abcDEF%3D&se=1')).toBe(`https://acct.blob/c?sv=2024&sig=${MASK}&se=1`);
    // A non-secret assignment does not hide a secret one right after it.
    expect(r.redact('ERROR: PASSWORD: abc123 STATUS=1')).toBe(`ERROR: PASSWORD: ${MASK} STATUS=1`);
    expect(r.redact('note=x password=y')).toBe(`note=x password=${MASK}`);
  });

  it('leaves ordinary text alone', () => {
    const r = new Redactor(['correct horse']);
    const text = 'backup of openwebui: 12 MiB added, password changed at 09:15, token count 3, https://example.com/a?b=c';
    expect(r.redact(text)).toBe(text);
  });
});

describe('Redactor.redactDeep', () => {
  it('redacts strings at any depth, masks secret-named keys, keeps *_file paths, and does not mutate', () => {
    const r = new Redactor(['sup3rsecret']);
    const input = {
      repo: 's3:https://ak:sup3rsecret@host/b',
      nested: { list: ['ok', 'has sup3rsecret inside', 42, true, null], password: 'whatever-it-is' },
      headers: { Authorization: 'Basic abcd', 'x-api-key': 'k-123456' },
      token_file: '/run/secrets/ntfy',
      tokens: ['aaaa', 'bbbb'],
      when: new Date(0),
    };
    const snapshot = structuredClone(input);
    const out = r.redactDeep(input);
    expect(out).toEqual({
      repo: `s3:https://ak:${MASK}@host/b`,
      nested: { list: ['ok', `has ${MASK} inside`, 42, true, null], password: MASK },
      headers: { Authorization: MASK, 'x-api-key': MASK },
      token_file: '/run/secrets/ntfy',
      tokens: [MASK, MASK],
      when: new Date(0),
    });
    expect(input).toEqual(snapshot);
    expect(JSON.stringify(out)).not.toContain('sup3rsecret');
  });

  it('turns errors into {name, message} and survives cycles', () => {
    const r = new Redactor(['pw-pw-pw']);
    const err = new TypeError('login failed with pw-pw-pw');
    const cyclic: Record<string, unknown> = { err };
    cyclic.self = cyclic;
    const out = r.redactDeep(cyclic) as Record<string, unknown>;
    expect(out.err).toEqual({ name: 'TypeError', message: `login failed with ${MASK}` });
    expect(out.self).toBe('[circular]');
    // A shared (non-cyclic) subtree is copied twice, not called circular.
    const shared = { a: 'x' };
    expect(r.redactDeep({ one: shared, two: shared })).toEqual({ one: { a: 'x' }, two: { a: 'x' } });
  });

  it('masks values under every secret-named key of the shared rule, and never ids or paths', () => {
    const r = new Redactor();
    expect(r.redactDeep({ key_passphrase: 'a-passphrase', db_pass: 'p', apiKey: 'k-1', key_id: 'k1', secret_name: 'owb', password_path: '/p' })).toEqual({
      key_passphrase: MASK,
      db_pass: MASK,
      apiKey: MASK,
      key_id: 'k1',
      secret_name: 'owb',
      password_path: '/p',
    });
  });

  it('redacts keys as well as values', () => {
    const r = new Redactor(['leaky-key-name']);
    expect(r.redactDeep({ 'leaky-key-name': 1 })).toEqual({ [MASK]: 1 });
  });
});
