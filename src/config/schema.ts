import { z } from 'zod';

/** One named repository in the config file. */
export const RepositorySchema = z.strictObject({
  url: z.string().min(1),
  password_file: z.string().min(1).optional(),
});

/** The whole config file. Later sections (source, schedule, notify) extend this schema. */
export const ConfigSchema = z.strictObject({
  default_repository: z.string().min(1).optional(),
  repositories: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'repository names use letters, digits, _ . -'), RepositorySchema).default({}),
});

/** The validated config. */
export type OwbConfig = z.infer<typeof ConfigSchema>;
