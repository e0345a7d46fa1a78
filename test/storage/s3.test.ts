import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request as httpRequest, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError } from '../../src/errors.js';
import type { Handle } from '../../src/storage/backend.js';
import { withRetry } from '../../src/storage/retry.js';
import { openBackend } from '../../src/storage/open-backend.js';
import { S3Backend } from '../../src/storage/s3.js';
import { S3RequestError } from '../../src/storage/s3-errors.js';
import { s3SettingsFromUrl, type S3Settings } from '../../src/storage/s3-settings.js';
import { service } from '../support/services.js';
import { wipeBackend } from '../support/wipe-backend.js';
import { randomName, runBackendConformance } from './conformance.js';

const rgw = service('s3');
/** One bucket per test file run; each conformance case gets a fresh prefix in it. */
const BUCKET = `owb-test-${randomBytes(4).toString('hex')}`;

/** Settings for the test RGW, with a fresh prefix unless one is given. */
function settings(over: Partial<S3Settings> = {}): S3Settings {
  return {
    endpoint: rgw.S3_ENDPOINT!,
    region: rgw.S3_REGION!,
    bucket: BUCKET,
    prefix: `run-${randomBytes(6).toString('hex')}`,
    credentials: { accessKeyId: rgw.AWS_ACCESS_KEY_ID!, secretAccessKey: rgw.AWS_SECRET_ACCESS_KEY! },
    ...over,
  };
}

/** A raw SDK client, to look at what the backend stored from the outside. */
function rawClient(): S3Client {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  return new S3Client({
    endpoint: rgw.S3_ENDPOINT!,
    region: rgw.S3_REGION!,
    forcePathStyle: true,
    credentials: { accessKeyId: rgw.AWS_ACCESS_KEY_ID!, secretAccessKey: rgw.AWS_SECRET_ACCESS_KEY! },
  });
}

/** Deletes everything under a prefix, so 20 MiB test objects do not pile up in the in-memory store. */
async function wipe(s: S3Settings): Promise<void> {
  const be = new S3Backend(s);
  try {
    await wipeBackend(be);
  } finally {
    await be.close();
  }
}

runBackendConformance('S3Backend on Ceph RGW', async () => {
  const s = settings();
  return { backend: new S3Backend(s), cleanup: () => wipe(s) };
});

runBackendConformance('S3Backend on Ceph RGW, behind withRetry', async () => {
  const s = settings();
  return { backend: withRetry(new S3Backend(s), { baseDelayMs: 1, requestTimeoutMs: 30_000 }), cleanup: () => wipe(s) };
});

describe('S3Backend specifics', () => {
  const s = settings();
  let be: S3Backend;
  let raw: S3Client;

  beforeAll(async () => {
    be = new S3Backend(s);
    await be.create();
    raw = rawClient();
  });

  afterAll(async () => {
    await be.close();
    await wipe(s);
    raw.destroy();
  });

  it('stores objects under <prefix>/config, <prefix>/<type>/<name> and <prefix>/data/<2 hex>/<name>', async () => {
    const name = `ab${randomName().slice(2)}`;
    await be.save({ type: 'config', name: '' }, Buffer.from('c'));
    await be.save({ type: 'keys', name: 'k1' }, Buffer.from('k'));
    await be.save({ type: 'data', name }, Buffer.from('d'));
    const listed = await raw.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${s.prefix}/` }));
    expect((listed.Contents ?? []).map((o) => o.Key).sort()).toEqual([`${s.prefix}/config`, `${s.prefix}/data/ab/${name}`, `${s.prefix}/keys/k1`].sort());
  });

  it('round-trips a 40 MiB object as a real multipart upload, and refuses to overwrite it', async () => {
    const h: Handle = { type: 'data', name: randomName() };
    const data = randomBytes(40 * 1024 * 1024);
    await be.save(h, data);
    const head = await raw.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${s.prefix}/data/${h.name.slice(0, 2)}/${h.name}` }));
    // A multipart object's ETag is "<md5 of part md5s>-<part count>": 40 MiB in 16 MiB parts is 3 parts.
    expect(head.ETag).toMatch(/-3"$/);
    expect((await be.load(h)).equals(data)).toBe(true);
    expect((await be.load(h, 20 * 1024 * 1024 - 5, 10)).equals(data.subarray(20 * 1024 * 1024 - 5, 20 * 1024 * 1024 + 5))).toBe(true);
    await expect(be.save(h, randomBytes(40 * 1024 * 1024))).rejects.toThrow(/already exists/);
    expect((await be.load(h, 0, 1024)).equals(data.subarray(0, 1024))).toBe(true);
    await be.remove(h);
  });

  it('uses multipart for anything above a lowered threshold, with a bounded part size', async () => {
    const small = new S3Backend({ ...s, multipartThreshold: 6 * 1024 * 1024, partSize: 5 * 1024 * 1024, queueSize: 2 });
    try {
      const h: Handle = { type: 'index', name: randomName() };
      const data = randomBytes(11 * 1024 * 1024);
      await small.save(h, data);
      const head = await raw.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${s.prefix}/index/${h.name}` }));
      expect(head.ETag).toMatch(/-3"$/);
      expect((await small.load(h)).equals(data)).toBe(true);
    } finally {
      await small.close();
    }
  });

  it('passes the storage class on uploads (RGW refuses one it does not know)', async () => {
    for (const [storageClass, expected] of [['STANDARD', null], ['NO_SUCH_CLASS', /^S3 PUT snapshots\/[0-9a-f]{8}… failed: 400 InvalidArgument$/]] as const) {
      const classy = new S3Backend({ ...s, storageClass });
      try {
        const done = classy.save({ type: 'snapshots', name: randomName() }, Buffer.from('x'));
        if (expected === null) await done;
        else await expect(done).rejects.toThrow(expected);
      } finally {
        await classy.close();
      }
    }
  });

  it('rejects a wrong secret key with one clear line that holds no secret, and is not retried', async () => {
    const wrongSecret = randomBytes(20).toString('base64');
    const bad = new S3Backend({ ...s, credentials: { accessKeyId: rgw.AWS_ACCESS_KEY_ID!, secretAccessKey: wrongSecret } });
    const retries: unknown[] = [];
    const wrapped = withRetry(bad, { baseDelayMs: 1, onRetry: (i) => retries.push(i) });
    try {
      const err = await wrapped.save({ type: 'data', name: randomName() }, Buffer.from('x')).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(S3RequestError);
      const msg = (err as Error).message;
      expect(msg).toMatch(/^S3 PUT data\/[0-9a-f]{2}\/[0-9a-f]{8}… failed: 403 SignatureDoesNotMatch \(check AWS_SECRET_ACCESS_KEY\)$/);
      expect(msg).not.toContain(wrongSecret);
      expect(msg).not.toContain(rgw.AWS_SECRET_ACCESS_KEY!);
      expect(msg).not.toMatch(/<\?xml|<Error>/);
      expect(retries).toEqual([]);
      // HEAD answers carry no body, so the code comes from the status; the hint still points at the keys.
      const statErr = await bad.stat({ type: 'config', name: '' }).then(() => undefined, (e: unknown) => e);
      expect((statErr as Error).message).toMatch(/^S3 HEAD config failed: 403 Forbidden \(check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY/);
      expect((statErr as Error).message).not.toContain(wrongSecret);
    } finally {
      await wrapped.close();
    }
  });

  it('names an unknown access key', async () => {
    const bad = new S3Backend({ ...s, credentials: { accessKeyId: 'AKIANOSUCHKEY0000000', secretAccessKey: 'x'.repeat(40) } });
    try {
      await expect(bad.load({ type: 'config', name: '' })).rejects.toThrow(/^S3 GET config failed: 403 InvalidAccessKeyId \(check AWS_ACCESS_KEY_ID\)$/);
    } finally {
      await bad.close();
    }
  });

  it('fails fast and clearly when nothing listens, after retrying the refused connection', async () => {
    const dead = new S3Backend({ ...s, endpoint: 'http://127.0.0.1:9' });
    const retries: unknown[] = [];
    const wrapped = withRetry(dead, { baseDelayMs: 1, maxAttempts: 3, onRetry: (i) => retries.push(i) });
    try {
      await expect(wrapped.stat({ type: 'config', name: '' })).rejects.toThrow(
        /^S3 HEAD config failed: ECONNREFUSED \(cannot connect to http:\/\/127\.0\.0\.1:9\) \(gave up after 3 attempts\)$/,
      );
      expect(retries).toHaveLength(2);
    } finally {
      await wrapped.close();
    }
  });

  it('creates a missing bucket, accepts it existing, and lists a missing bucket as empty', async () => {
    const bucket = `owb-new-${randomBytes(4).toString('hex')}`;
    const fresh = new S3Backend({ ...s, bucket, prefix: '' });
    try {
      expect(await fresh.list('snapshots')).toEqual([]);
      await expect(fresh.load({ type: 'config', name: '' })).rejects.toBeInstanceOf(NotFoundError);
      await fresh.create();
      await fresh.create();
      await fresh.save({ type: 'config', name: '' }, Buffer.from('root'));
      expect((await fresh.load({ type: 'config', name: '' })).toString()).toBe('root');
      expect(fresh.location).toBe(`s3:${rgw.S3_ENDPOINT}/${bucket}`);
      await fresh.remove({ type: 'config', name: '' });
    } finally {
      await fresh.close();
    }
  });

  it('opens from a repository URL with credentials from *_FILE variables, without credentials in its location', async () => {
    const { writeFile } = await import('node:fs/promises');
    const dir = await mkdtemp(join(tmpdir(), 'owb-s3-'));
    try {
      await writeFile(join(dir, 'id'), `${rgw.AWS_ACCESS_KEY_ID}\n`);
      await writeFile(join(dir, 'secret'), `${rgw.AWS_SECRET_ACCESS_KEY}\n`);
      const env = { AWS_ACCESS_KEY_ID_FILE: join(dir, 'id'), AWS_SECRET_ACCESS_KEY_FILE: join(dir, 'secret'), AWS_DEFAULT_REGION: rgw.S3_REGION };
      const url = `${rgw.S3_ENDPOINT}/${BUCKET}/${s.prefix}/via-url`;
      const opened = await openBackend(`s3:${url}`, { env });
      try {
        expect(opened.location).toBe(`s3:${url}`);
        expect(opened.location).not.toContain(rgw.AWS_SECRET_ACCESS_KEY!);
        expect(opened.location).not.toContain(rgw.AWS_ACCESS_KEY_ID!);
        const h: Handle = { type: 'snapshots', name: randomName() };
        await opened.save(h, Buffer.from('via url'));
        expect((await be.list('snapshots')).map((f) => f.name)).not.toContain(h.name);
        expect((await opened.load(h)).toString()).toBe('via url');
      } finally {
        await opened.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
      await wipe({ ...s, prefix: `${s.prefix}/via-url` });
    }
  });
});

describe('openBackend(s3:) with config options', () => {
  it('takes credentials files, region, storage class and timeout from the config over the environment', async () => {
    const { writeFile } = await import('node:fs/promises');
    const dir = await mkdtemp(join(tmpdir(), 'owb-s3opt-'));
    const prefix = `opt-${randomBytes(4).toString('hex')}`;
    try {
      await writeFile(join(dir, 'id'), `${rgw.AWS_ACCESS_KEY_ID}\n`);
      await writeFile(join(dir, 'secret'), `${rgw.AWS_SECRET_ACCESS_KEY}\n`);
      // The environment holds a wrong key pair; the config's files must win.
      const env = { AWS_ACCESS_KEY_ID: 'AKIAWRONG', AWS_SECRET_ACCESS_KEY: 'wrong', OWB_REQUEST_TIMEOUT: 'soon' };
      const opts = { accessKeyIdFile: join(dir, 'id'), secretAccessKeyFile: join(dir, 'secret'), region: rgw.S3_REGION!, storageClass: 'STANDARD', requestTimeoutS: 30 };
      const be = await openBackend(`s3:${rgw.S3_ENDPOINT}/${BUCKET}/${prefix}`, { env, s3: opts });
      try {
        await be.create();
        await be.save({ type: 'keys', name: 'k' }, Buffer.from('from config'));
        expect((await be.load({ type: 'keys', name: 'k' })).toString()).toBe('from config');
      } finally {
        await be.close();
      }
      const wrongClass = await openBackend(`s3:${rgw.S3_ENDPOINT}/${BUCKET}/${prefix}`, { env, s3: { ...opts, storageClass: 'NO_SUCH_CLASS' } });
      try {
        await expect(wrongClass.save({ type: 'keys', name: 'k2' }, Buffer.from('x'))).rejects.toThrow(/400 InvalidArgument/);
      } finally {
        await wrongClass.close();
      }
      // Retry settings reach the wrapper: a refused connection is retried and reported through onRetry.
      const retried: unknown[] = [];
      const dead = await openBackend(`s3:http://127.0.0.1:9/${BUCKET}`, { env: {}, s3: opts, retry: { maxAttempts: 2, baseDelayMs: 1, onRetry: (i) => retried.push(i) } });
      await expect(dead.stat({ type: 'config', name: '' })).rejects.toThrow(/ECONNREFUSED .*gave up after 2 attempts/);
      expect(retried).toHaveLength(1);
      await dead.close();
      await expect(openBackend(`s3:${rgw.S3_ENDPOINT}/${BUCKET}`, { env })).rejects.toThrow(/OWB_REQUEST_TIMEOUT must be a positive number/);
      // No keys for a self-hosted endpoint is a usage error, before any request (no cloud metadata lookups).
      const keyless = await openBackend(`s3:${rgw.S3_ENDPOINT}/${BUCKET}`, { env: {} });
      await expect(keyless.stat({ type: 'config', name: '' })).rejects.toThrow(/^s3: no credentials for http:\/\/127\.0\.0\.1:\d+: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
      await keyless.close();
      await expect(openBackend(`s3:${rgw.S3_ENDPOINT}/${BUCKET}`, { env: {}, s3: { accessKeyIdFile: join(dir, 'id') } })).rejects.toThrow(/both access_key_id_file and secret_access_key_file/);
      await expect(openBackend(`s3:${rgw.S3_ENDPOINT}/${BUCKET}`, { env: {}, s3: { accessKeyIdFile: join(dir, 'id'), secretAccessKeyFile: join(dir, 'nope') } })).rejects.toThrow(
        /^cannot read secret_access_key_file/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
      await wipe(settings({ prefix }));
    }
  });
});

describe('S3Backend over TLS with a private CA', () => {
  let dir: string;
  let server: Server;
  let endpoint: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'owb-s3tls-'));
    // A self-signed certificate for 127.0.0.1: the "private CA" of a self-hosted MinIO or Ceph.
    const r = spawnSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
    const upstream = new URL(rgw.S3_ENDPOINT!);
    // TLS terminates here; requests go on to RGW unchanged (Host included, so signatures stay valid).
    server = createHttpsServer({ key: await readFile(join(dir, 'key.pem')), cert: await readFile(join(dir, 'cert.pem')) }, (req, res) => {
      const up = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  it('trusts the CA named by AWS_CA_BUNDLE, and says what to do without it', async () => {
    const env = { AWS_ACCESS_KEY_ID: rgw.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: rgw.AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION: rgw.S3_REGION };
    const url = `${endpoint}/${BUCKET}/tls-${randomBytes(4).toString('hex')}`;
    const untrusted = await openBackend(`s3:${url}`, { env });
    try {
      await expect(untrusted.stat({ type: 'config', name: '' })).rejects.toThrow(
        /^S3 HEAD config failed: [A-Z_]*CERT[A-Z_]* \(the server's TLS certificate is not trusted; for a private CA set AWS_CA_BUNDLE or NODE_EXTRA_CA_CERTS\)$/,
      );
    } finally {
      await untrusted.close();
    }
    const trusted = await openBackend(`s3:${url}`, { env: { ...env, AWS_CA_BUNDLE: join(dir, 'cert.pem') } });
    try {
      await trusted.create();
      await trusted.save({ type: 'config', name: '' }, Buffer.from('over tls'));
      expect((await trusted.load({ type: 'config', name: '' })).toString()).toBe('over tls');
      await trusted.remove({ type: 'config', name: '' });
    } finally {
      await trusted.close();
    }
    await expect(s3SettingsFromUrl(url, { ...env, AWS_CA_BUNDLE: join(dir, 'missing.pem') })).rejects.toThrow(/cannot read AWS_CA_BUNDLE/);
    // A plain-HTTP endpoint needs no CA, so a bundle meant for something else cannot break it.
    expect((await s3SettingsFromUrl(`${rgw.S3_ENDPOINT}/bkt`, { AWS_CA_BUNDLE: join(dir, 'missing.pem') })).caBundle).toBeUndefined();
  });
});

describe('s3SettingsFromUrl', () => {
  const creds = { AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'topsecret' };

  it('parses an endpoint with port, bucket and nested prefix', async () => {
    const s = await s3SettingsFromUrl('https://s3.example.org:9000/bucket/a/b/', { ...creds, AWS_DEFAULT_REGION: 'eu-west-1' });
    expect(s).toEqual({
      endpoint: 'https://s3.example.org:9000',
      region: 'eu-west-1',
      bucket: 'bucket',
      prefix: 'a/b',
      credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'topsecret' },
    });
    expect(new S3Backend(s).location).toBe('s3:https://s3.example.org:9000/bucket/a/b');
  });

  it('parses a plain-HTTP loopback endpoint with only a bucket, defaulting the region and path style', async () => {
    const s = await s3SettingsFromUrl('http://127.0.0.1:7480/bkt', creds);
    expect(s).toMatchObject({ endpoint: 'http://127.0.0.1:7480', region: 'us-east-1', bucket: 'bkt', prefix: '' });
  });

  it('treats a bare bucket/prefix as AWS, and a host-like first segment as the endpoint (restic form)', async () => {
    expect(await s3SettingsFromUrl('my-bucket/some/prefix', {})).toEqual({ region: 'us-east-1', bucket: 'my-bucket', prefix: 'some/prefix' });
    const aws = await s3SettingsFromUrl('s3.amazonaws.com/bkt/p', { AWS_REGION: 'ap-south-1' });
    expect(aws).toEqual({ region: 'ap-south-1', bucket: 'bkt', prefix: 'p' });
    const b2 = await s3SettingsFromUrl('s3.eu-central-003.backblazeb2.com/bkt', {});
    expect(b2).toMatchObject({ endpoint: 'https://s3.eu-central-003.backblazeb2.com', bucket: 'bkt', prefix: '' });
    expect(await s3SettingsFromUrl('my.dotted.bucket/x', {})).toMatchObject({ bucket: 'my.dotted.bucket', prefix: 'x' });
    expect(new S3Backend(await s3SettingsFromUrl('my-bucket/some/prefix', {})).location).toBe('s3:my-bucket/some/prefix');
  });

  it('refuses credentials in the URL without echoing them', async () => {
    const err = await s3SettingsFromUrl('https://AKIA:hunter2@host/bucket', {}).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/credentials in the repository URL are refused/);
    expect((err as Error).message).not.toContain('hunter2');
  });

  it('refuses a URL without a bucket, and half a key pair', async () => {
    await expect(s3SettingsFromUrl('https://host:9000/', creds)).rejects.toThrow(/no bucket/);
    await expect(s3SettingsFromUrl('', creds)).rejects.toThrow(/no bucket/);
    await expect(s3SettingsFromUrl('bkt', { AWS_ACCESS_KEY_ID: 'x' })).rejects.toThrow(/AWS_SECRET_ACCESS_KEY .*not set/);
  });

  it('reads session tokens and *_FILE variants, which win over plain variables', async () => {
    const { writeFile } = await import('node:fs/promises');
    const dir = await mkdtemp(join(tmpdir(), 'owb-s3url-'));
    try {
      await writeFile(join(dir, 's'), 'from-file\n');
      const s = await s3SettingsFromUrl('bkt', { ...creds, AWS_SECRET_ACCESS_KEY_FILE: join(dir, 's'), AWS_SESSION_TOKEN: 'tok' });
      expect(s.credentials).toEqual({ accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'from-file', sessionToken: 'tok' });
      await expect(s3SettingsFromUrl('bkt', { ...creds, AWS_SECRET_ACCESS_KEY_FILE: join(dir, 'missing') })).rejects.toThrow(/AWS_SECRET_ACCESS_KEY_FILE/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
