import { z } from 'zod';

/** One named repository in the config file. */
export const RepositorySchema = z.strictObject({
  url: z.string().min(1),
  password_file: z.string().min(1).optional(),
  /** Names of repositories every backup to this one is copied to when it finishes. */
  copy_to: z.array(z.string().min(1)).default([]),
});

/** The whole config file. Later sections (source, schedule, notify) extend this schema. */
export const ConfigSchema = z
  .strictObject({
    default_repository: z.string().min(1).optional(),
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

/** One validated repository entry. */
export type RepositoryConfig = z.infer<typeof RepositorySchema>;
