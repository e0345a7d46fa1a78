import type { Command } from 'commander';
import { runForgetAndPrune, type ForgetGroupReport } from '../../jobs/forget.js';
import { describeGroup, parseGroupBy, parseKeepCount, validatePolicy, type RetentionPolicy } from '../../jobs/retention.js';
import type { CliContext } from '../context.js';
import { formatBytes } from '../format.js';
import { printPrune, pruneJson } from './prune.js';
import { table } from '../format.js';
import { collect } from '../options.js';

interface ForgetFlags {
  keepLast?: string;
  keepHourly?: string;
  keepDaily?: string;
  keepWeekly?: string;
  keepMonthly?: string;
  keepYearly?: string;
  keepWithin?: string;
  keepWithinHourly?: string;
  keepWithinDaily?: string;
  keepWithinWeekly?: string;
  keepWithinMonthly?: string;
  keepWithinYearly?: string;
  keepTag: string[];
  groupBy: string;
  host: string[];
  tag: string[];
  path: string[];
  dryRun?: boolean;
  prune?: boolean;
}

const COUNTS = [
  ['keepLast', 'l', 'last', 'last n snapshots'],
  ['keepHourly', 'H', 'hourly', 'last n hourly snapshots'],
  ['keepDaily', 'd', 'daily', 'last n daily snapshots'],
  ['keepWeekly', 'w', 'weekly', 'last n weekly snapshots'],
  ['keepMonthly', 'm', 'monthly', 'last n monthly snapshots'],
  ['keepYearly', 'y', 'yearly', 'last n yearly snapshots'],
] as const;

const WITHINS = [
  ['keepWithinHourly', 'hourly'],
  ['keepWithinDaily', 'daily'],
  ['keepWithinWeekly', 'weekly'],
  ['keepWithinMonthly', 'monthly'],
  ['keepWithinYearly', 'yearly'],
] as const;

/** `owb forget [id…]`: remove snapshots by a --keep-* policy, or the given snapshots. */
export function registerForget(program: Command, ctx: () => CliContext): void {
  const cmd = program
    .command('forget')
    .description('remove snapshots by a --keep-* policy (per host and paths), or the given ids; data stays until prune')
    .argument('[id...]', 'snapshot ids to remove (instead of a policy)');
  for (const [, short, name, what] of COUNTS) {
    cmd.option(`-${short}, --keep-${name} <n>`, `keep the ${what} (-1 or "unlimited" for all)`);
  }
  cmd.option('--keep-within <duration>', 'keep snapshots newer than duration (e.g. 1y5m7d2h) before the newest snapshot');
  for (const [, name] of WITHINS) {
    cmd.option(`--keep-within-${name} <duration>`, `keep ${name} snapshots newer than duration before the newest snapshot`);
  }
  cmd
    .option('--keep-tag <taglist>', 'keep snapshots with this tag, or all tags of "a,b" (repeatable)', collect, [])
    .option('-g, --group-by <fields>', 'apply the policy per group of host, paths and/or tags ("" for one group)', 'host,paths')
    .option('--host <name>', 'only consider snapshots of this host (repeatable)', collect, [])
    .option('--tag <taglist>', 'only consider snapshots with this tag, or all tags of "a,b" (repeatable)', collect, [])
    .option('--path <path>', 'only consider snapshots including this path (repeatable)', collect, [])
    .option('-n, --dry-run', 'show what would be removed; remove nothing')
    .option('--prune', 'run prune afterwards when snapshots were removed')
    .action(async (ids: string[], flags: ForgetFlags) => {
      const c = ctx();
      const policy = policyFromFlags(flags);
      const groupBy = parseGroupBy(flags.groupBy);
      // Usage errors before the repository is opened and locked.
      if (ids.length === 0) validatePolicy(policy);
      const { report, pruned } = await c.recorded(
        'forget',
        () =>
          c.withRepo(flags.dryRun ? 'shared' : 'exclusive', (repo) =>
            runForgetAndPrune(
              repo,
              {
                ids,
                // With ids, a policy is passed only when one was given, so runForget can refuse the mix.
                ...(ids.length === 0 || policyGiven(policy) ? { policy } : {}),
                groupBy,
                filter: { hosts: flags.host, tags: flags.tag, paths: flags.path },
                dryRun: !!flags.dryRun,
              },
              flags.prune ? { signal: c.abort.signal } : false,
            ),
          ),
        (r) => ({
          summary: `${r.report.removed.length} snapshot(s) ${r.report.dryRun ? 'would be ' : ''}removed${r.pruned ? `, ${formatBytes(r.pruned.bytesFreed)} freed` : ''}`,
          values: { removed: r.report.removed.length, ...(r.pruned ? { bytes_freed: r.pruned.bytesFreed } : {}) },
        }),
      );
      if (c.out.json) {
        // One JSON document: with --prune, the forget groups and the prune summary side by side.
        if (flags.prune) c.out.printJson({ forget: report.groups.map(groupJson), prune: pruned ? pruneJson(pruned) : null });
        else c.out.printJson(report.groups.map(groupJson));
        return;
      }
      for (const g of report.groups) {
        c.out.info(`snapshots of ${describeGroup(g.key)}:`);
        c.out.info(table(groupRows(g)));
        c.out.info('');
      }
      const n = report.removed.length;
      c.out.info(`${n} snapshot${n === 1 ? '' : 's'} ${report.dryRun ? 'would be removed (dry run)' : 'removed'}`);
      if (pruned) printPrune(c, pruned);
    });
}

function policyFromFlags(flags: ForgetFlags): RetentionPolicy {
  const policy: RetentionPolicy = {};
  for (const [field, , name] of COUNTS) {
    const v = flags[field];
    if (v !== undefined) policy[field] = parseKeepCount(v, `--keep-${name}`);
  }
  if (flags.keepWithin !== undefined) policy.keepWithin = flags.keepWithin;
  for (const [field] of WITHINS) {
    const v = flags[field];
    if (v !== undefined) policy[field] = v;
  }
  if (flags.keepTag.length > 0) policy.keepTags = flags.keepTag;
  return policy;
}

function policyGiven(p: RetentionPolicy): boolean {
  return Object.keys(p).length > 0;
}

function groupJson(g: ForgetGroupReport): unknown {
  return {
    group: g.key,
    keep: g.keep.map(({ snapshot: s, reasons }) => ({ id: s.id, short_id: s.id.slice(0, 8), time: s.time, reasons })),
    remove: g.remove.map((s) => ({ id: s.id, short_id: s.id.slice(0, 8), time: s.time })),
  };
}

function groupRows(g: ForgetGroupReport): string[][] {
  const rows = [
    ...g.keep.map(({ snapshot, reasons }) => ({ s: snapshot, action: 'keep', why: reasons.join(', ') })),
    ...g.remove.map((s) => ({ s, action: 'remove', why: '' })),
  ].sort((a, b) => b.s.time.localeCompare(a.s.time) || a.s.id.localeCompare(b.s.id));
  return [
    ['ID', 'Time', 'Host', 'Tags', 'Action', 'Reasons'],
    ...rows.map(({ s, action, why }) => [s.id.slice(0, 8), s.time.replace('T', ' ').slice(0, 19), s.hostname, s.tags.join(','), action, why]),
  ];
}
