import { z } from 'zod';
import { opsConfigShape } from './ops-schema.js';

/** One named repository in the config file. */
/** S3 settings of a repository; endpoint, bucket and prefix live in its url. */
export const S3SettingsSchema = z
  .strictObject({
    region: z.string().min(1).optional(),
    path_style: z.boolean().optional(),
    storage_class: z.string().min(1).optional(),
    access_key_id_file: z.string().min(1).optional(),
    secret_access_key_file: z.string().min(1).optional(),
    request_timeout: z.number().positive().optional(),
  })
  .refine((s) => (s.access_key_id_file === undefined) === (s.secret_access_key_file === undefined), {
    message: 'give both access_key_id_file and secret_access_key_file, or neither',
  });

/** SFTP settings of a repository (a NAS); user, host and path live in its url. */
export const SftpSettingsSchema = z.strictObject({
  key_file: z.string().min(1).optional(),
  key_passphrase_file: z.string().min(1).optional(),
  password_file: z.string().min(1).optional(),
  known_hosts: z.string().min(1).optional(),
  host_fingerprint: z.string().regex(/^SHA256:[A-Za-z0-9+/=]+$/, 'host_fingerprint looks like SHA256:base64').optional(),
});

export const RepositorySchema = z.strictObject({
  url: z.string().min(1),
  password_file: z.string().min(1).optional(),
  s3: S3SettingsSchema.optional(),
  sftp: SftpSettingsSchema.optional(),
  /** Names of repositories every backup to this one is copied to when it finishes. */
  copy_to: z.array(z.string().min(1)).default([]),
});

/** The Open WebUI deployment to back up when `owb backup` gets no paths. */
export const SourceSchema = z
  .strictObject({
    container: z.string().min(1).optional(),
    data_dir: z.string().min(1).optional(),
    quiesce: z.enum(['stop', 'pause', 'none']).default('stop'),
    stop_timeout: z.number().int().positive().default(30),
    include_cache: z.boolean().default(false),
    secret_key_file: z.string().min(1).optional(),
    staging_dir: z.string().min(1).optional(),
  })
  .refine((s) => !(s.container && s.data_dir), { message: 'give either container or data_dir, not both' });

/** Jobs the daemon (and `schedule install`) can run. */
export const SCHEDULE_JOBS = ['backup', 'forget', 'prune', 'check', 'drill', 'copy'] as const;

/**
 * One `schedule:` entry: a job, when to run it (5-field cron, in `timezone` or the host's zone), on which
 * repository, and the job's own options as CLI flags without dashes (`keep_daily: 7` → --keep-daily 7).
 */
export const ScheduleEntrySchema = z.strictObject({
  job: z.enum(SCHEDULE_JOBS),
  cron: z.string().min(1),
  timezone: z.string().min(1).optional(),
  repository: z.string().min(1).optional(),
  args: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.array(z.union([z.string(), z.number()]))])).default({}),
});

/** The whole config file. */
export const ConfigSchema = z
  .strictObject({
    default_repository: z.string().min(1).optional(),
    source: SourceSchema.optional(),
    state_dir: z.string().min(1).optional(),
    schedule: z.array(ScheduleEntrySchema).default([]),
    ...opsConfigShape,
    repositories: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'repository names use letters, digits, _ . -'), RepositorySchema).default({}),
  })
  .superRefine((cfg, ctx) => {
    for (const [name, repo] of Object.entries(cfg.repositories)) {
      repo.copy_to.forEach((target, i) => {
        if (!(target in cfg.repositories)) {
          ctx.addIssue({ code: 'custom', path: ['repositories', name, 'copy_to', i], message: `no repository named "${target}"` });
        } else if (target === name) {
          ctx.addIssue({ code: 'custom', path: ['repositories', name, 'copy_to', i], message: 'a repository cannot copy to itself' });
        }
      });
    }
  });

/** The validated config. */
export type OwbConfig = z.infer<typeof ConfigSchema>;

/** One validated schedule entry. */
export type ScheduleEntry = z.infer<typeof ScheduleEntrySchema>;

/** The validated `source:` section. */
export type SourceConfig = z.infer<typeof SourceSchema>;

/** One validated repository entry. */
export type RepositoryConfig = z.infer<typeof RepositorySchema>;
