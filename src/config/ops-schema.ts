/**
 * Config sections for unattended operation: run logs, notifications and Prometheus metrics.
 * They are spread into the main ConfigSchema (`...opsConfigShape`) so one file validates everything.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

/** Events a notification target can be told about. */
export const NotifyEventSchema = z.enum(['start', 'success', 'failure']);

/** One notification event. */
export type NotifyEvent = z.infer<typeof NotifyEventSchema>;

/**
 * The one default state directory of owb (quiesce markers, staging, metrics, daemon pid, drill record):
 * $XDG_STATE_HOME/owb, else /var/lib/owb as root, else ~/.local/state/owb. The config's state_dir overrides it.
 */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env, uid: number | undefined = process.getuid?.()): string {
  // XDG_STATE_HOME wins even for root, so one variable moves every state file (markers and staging must agree).
  if (env.XDG_STATE_HOME) return join(env.XDG_STATE_HOME, 'owb');
  if (uid === 0) return '/var/lib/owb';
  return join(homedir(), '.local', 'state', 'owb');
}

/** Where run logs go by default: <state dir>/logs, or /var/log/owb as root (where admins look first). */
export function defaultLogDir(env: NodeJS.ProcessEnv = process.env, uid: number | undefined = process.getuid?.()): string {
  if (uid === 0 && !env.XDG_STATE_HOME) return '/var/log/owb';
  return join(defaultStateDir(env, uid), 'logs');
}

/** `logs:` — where run reports and owb.jsonl go, and how long reports are kept (0 turns a rule off). */
export const LogsSchema = z.strictObject({
  dir: z.string().min(1).default(() => defaultLogDir()),
  keep_days: z.number().int().min(0).default(90),
  keep_count: z.number().int().min(0).default(500),
});

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });
const onList = (fallback: NotifyEvent[]) => z.array(NotifyEventSchema).default(() => [...fallback]);

/** ntfy priorities: names or 1 (min) … 5 (max). */
export const NtfyPrioritySchema = z.union([
  z.enum(['min', 'low', 'default', 'high', 'urgent', 'max']),
  z.number().int().min(1).max(5),
]);

/** A healthchecks.io-style ping URL (also self-hosted Healthchecks): /start, success, /fail. */
export const HealthchecksTargetSchema = z.strictObject({
  type: z.literal('healthchecks'),
  url: httpUrl,
  on: onList(['start', 'success', 'failure']),
});

/** A generic JSON webhook (POST application/json). */
export const WebhookTargetSchema = z.strictObject({
  type: z.literal('webhook'),
  url: httpUrl,
  headers: z.record(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'not a valid HTTP header name'), z.string()).optional(),
  on: onList(['failure']),
});

/** An ntfy server and topic; `priority` applies to start/success, failures are sent at least as "high". */
export const NtfyTargetSchema = z.strictObject({
  type: z.literal('ntfy'),
  url: httpUrl.default('https://ntfy.sh'),
  topic: z.string().regex(/^[-_A-Za-z0-9]{1,64}$/, 'ntfy topics use 1-64 letters, digits, - and _'),
  token_file: z.string().min(1).optional(),
  priority: NtfyPrioritySchema.optional(),
  on: onList(['failure']),
});

/** One entry of `notify:`. */
export const NotifyTargetSchema = z.discriminatedUnion('type', [HealthchecksTargetSchema, WebhookTargetSchema, NtfyTargetSchema]);

/** `notify:` — a list of targets. */
export const NotifySchema = z.array(NotifyTargetSchema).default(() => []);

const LISTEN_RE = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** Splits "host:port" or "[v6]:port" into its parts; undefined when malformed or the port is out of range. */
export function parseListen(listen: string): { host: string; port: number } | undefined {
  const m = LISTEN_RE.exec(listen);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port > 65535) return undefined;
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}

/** `metrics:` — a node_exporter textfile path and/or an address to serve /metrics on. */
export const MetricsSchema = z.strictObject({
  textfile: z
    .string()
    .min(1)
    .refine((p) => p.endsWith('.prom'), 'must end in .prom (node_exporter reads only *.prom files)')
    .optional(),
  listen: z
    .string()
    .refine((s) => parseListen(s) !== undefined, 'must be host:port, e.g. 127.0.0.1:9184 or [::1]:9184')
    .optional(),
});

/** The keys to spread into the main ConfigSchema's strictObject. */
export const opsConfigShape = {
  logs: LogsSchema.prefault({}),
  notify: NotifySchema,
  metrics: MetricsSchema.prefault({}),
};

/** The ops sections on their own (for tests and tools that only need these). */
export const OpsConfigSchema = z.strictObject(opsConfigShape);

/** Validated `logs:`. */
export type LogsConfig = z.infer<typeof LogsSchema>;
/** One validated notification target. */
export type NotifyTarget = z.infer<typeof NotifyTargetSchema>;
/** A validated healthchecks target. */
export type HealthchecksTarget = z.infer<typeof HealthchecksTargetSchema>;
/** A validated webhook target. */
export type WebhookTarget = z.infer<typeof WebhookTargetSchema>;
/** A validated ntfy target. */
export type NtfyTarget = z.infer<typeof NtfyTargetSchema>;
/** An ntfy priority as configured. */
export type NtfyPriority = z.infer<typeof NtfyPrioritySchema>;
/** Validated `metrics:`. */
export type MetricsConfig = z.infer<typeof MetricsSchema>;
/** The ops sections, validated. */
export type OpsConfig = z.infer<typeof OpsConfigSchema>;
