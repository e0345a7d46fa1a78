import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { findConfigFile } from '../../config/load.js';
import type { SourceConfig } from '../../config/schema.js';
import { OwbError, UsageError } from '../../errors.js';
import { redactUrl, runDoctor, type DoctorItem, type DoctorRepo } from '../../jobs/doctor/index.js';
import { stateDirOf } from '../../jobs/source.js';
import type { CliContext, RepoTarget } from '../context.js';

interface DoctorFlags {
  container?: string;
  source?: string;
}

/** `owb doctor`: check the whole setup, print PASS/WARN/FAIL per item, exit 1 on any FAIL. */
export function registerDoctor(program: Command, ctx: () => CliContext): void {
  program
    .command('doctor')
    .description('check the setup: data folder, container, repositories, secret files, backup and drill age, schedule, logs, staging space')
    .option('--container <name>', 'Open WebUI container to check instead of the config\'s source')
    .option('--source <dir>', 'Open WebUI data folder to check instead of the config\'s source')
    .action(async (flags: DoctorFlags) => {
      const c = ctx();
      if (flags.container && flags.source) throw new UsageError('give either --container or --source, not both');
      const cfg = await c.config();
      const configFile = await findConfigFile(c.globals.config, c.env);
      const configText = configFile ? await readFile(configFile, 'utf8').catch(() => undefined) : undefined;
      // As resolveSource does: flags replace the config's source: section as a whole.
      const src: Partial<SourceConfig> = flags.container || flags.source ? {} : (cfg.source ?? {});
      const container = flags.container ?? src.container;
      const dataDir = flags.source ?? src.data_dir;
      const report = await runDoctor({
        config: cfg,
        env: c.env,
        stateDir: stateDirOf(cfg, c.env),
        ...(configFile ? { configFile } : {}),
        ...(configText !== undefined ? { configText } : {}),
        source: { ...(container ? { container } : {}), ...(dataDir ? { dataDir } : {}), ...(src.staging_dir ? { stagingDir: src.staging_dir } : {}) },
        repos: await reposToCheck(c),
        withRepo: (r, fn) => c.withRepoAt(r as DoctorRepo & RepoTarget, 'none', fn),
        extraSecretFiles: c.globals.passwordFile ? [{ label: '--password-file', path: c.globals.passwordFile }] : [],
      });
      const fails = report.items.filter((i) => i.status === 'FAIL').length;
      if (c.out.json) c.out.printJson({ ok: fails === 0, items: report.items });
      else for (const line of renderTable(report.items)) c.out.info(line);
      if (fails > 0) throw new OwbError(`doctor found ${fails} problem(s)`);
    });
}

/** Every repository of the config, plus the one --repo / OWB_REPOSITORY / default_repository names when it is not among them. */
async function reposToCheck(c: CliContext): Promise<DoctorRepo[]> {
  const cfg = await c.config();
  const out: (DoctorRepo & RepoTarget)[] = [];
  for (const name of Object.keys(cfg.repositories)) out.push({ ...(await c.resolveRepo(name)), label: name });
  const given = c.globals.repo ?? c.env.OWB_REPOSITORY ?? cfg.default_repository;
  if (given !== undefined && !(given in cfg.repositories) && !out.some((r) => r.url === given)) {
    out.push({ ...(await c.resolveRepo(given)), label: redactUrl(given) });
  }
  return out;
}

/** `PASS  name  detail` rows with aligned columns, and an indented fix hint under WARN and FAIL. */
export function renderTable(items: readonly DoctorItem[]): string[] {
  const width = Math.max(0, ...items.map((i) => i.name.length));
  const lines: string[] = [];
  for (const i of items) {
    lines.push(`${i.status}  ${i.name.padEnd(width)}  ${i.detail}`);
    if (i.status !== 'PASS' && i.fix) lines.push(`      ${' '.repeat(width)}  fix: ${i.fix}`);
  }
  const count = (s: string): number => items.filter((i) => i.status === s).length;
  lines.push('', `${count('PASS')} passed, ${count('WARN')} warning(s), ${count('FAIL')} failed`);
  return lines;
}
