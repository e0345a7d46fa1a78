/**
 * cron → systemd OnCalendar: checks a 5-field cron expression as cron reads it, and converts it into the
 * OnCalendar values of a timer that fires at the same times.
 */
import { ExitCode, OwbError } from '../../errors.js';

/** A cron expression systemd cannot express (or that is not valid cron at all). */
export class CronConvertError extends OwbError {
  /** What is wrong, without the expression. */
  readonly why: string;
  constructor(cron: string, why: string) {
    super(`cannot convert cron "${cron}" to a systemd OnCalendar: ${why}`, ExitCode.Usage);
    this.why = why;
  }
}

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] as const;
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const FIELDS: readonly FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS },
  { name: 'day of week', min: 0, max: 7, names: DAYS },
];
const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

function parseValue(text: string, f: FieldSpec, cron: string): number {
  const lower = text.toLowerCase();
  const named = f.names?.indexOf(lower as never) ?? -1;
  if (named >= 0) return named + (f.min === 1 ? 1 : 0);
  if (!/^\d+$/.test(text)) throw new CronConvertError(cron, `"${text}" is not a valid ${f.name} value`);
  const n = Number(text);
  if (n < f.min || n > f.max) throw new CronConvertError(cron, `${f.name} ${n} is outside ${f.min}-${f.max}`);
  return n;
}

/** The values one cron field allows (day of week 7 folded onto 0). */
function parseField(text: string, f: FieldSpec, cron: string): Set<number> {
  const special = /[LW#?]/i.exec(text.replace(/[a-z]{3}/gi, (m) => (f.names?.includes(m.toLowerCase() as never) ? 'x' : m)));
  if (special) throw new CronConvertError(cron, `"${special[0]}" in the ${f.name} field is not standard cron and has no systemd equivalent`);
  const out = new Set<number>();
  const top = f.name === 'day of week' ? 6 : f.max;
  for (const part of text.split(',')) {
    const m = /^(\*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:\/(\d+))?$/.exec(part);
    if (!m) throw new CronConvertError(cron, `"${part}" is not a valid ${f.name} field`);
    const [, range, stepText] = m;
    let lo = f.min;
    let hi = top;
    if (range !== '*') {
      const [a, b] = range!.split('-');
      lo = parseValue(a!, f, cron);
      if (b === undefined && stepText !== undefined) throw new CronConvertError(cron, `"${part}": a step needs "*" or a range before it (as in */${stepText} or ${a}-${f.max}/${stepText})`);
      hi = b === undefined ? lo : parseValue(b, f, cron);
      if (lo > hi) throw new CronConvertError(cron, `range ${range} in the ${f.name} field runs backwards`);
    }
    const step = stepText === undefined ? 1 : Number(stepText);
    if (step < 1) throw new CronConvertError(cron, `step 0 in the ${f.name} field`);
    for (let v = lo; v <= hi; v += step) out.add(f.name === 'day of week' && v === 7 ? 0 : v);
  }
  return out;
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** Renders a set of values as a systemd calendar component: `*`, `a/s`, `a..b/s`, or a list of values and ranges. */
function component(values: ReadonlySet<number>, min: number, max: number): string {
  const v = [...values].sort((a, b) => a - b);
  if (v.length === max - min + 1) return '*';
  const step = v.length >= 3 ? v[1]! - v[0]! : 0;
  if (step > 1 && v.every((x, i) => x === v[0]! + i * step)) {
    const last = v[v.length - 1]!;
    return last + step > max ? `${pad2(v[0]!)}/${step}` : `${pad2(v[0]!)}..${pad2(last)}/${step}`;
  }
  return runs(v).map(([a, b]) => (a === b ? pad2(a) : b === a + 1 ? `${pad2(a)},${pad2(b)}` : `${pad2(a)}..${pad2(b)}`)).join(',');
}

function runs(sorted: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const x of sorted) {
    const last = out[out.length - 1];
    if (last && x === last[1] + 1) last[1] = x;
    else out.push([x, x]);
  }
  return out;
}

const SYSTEMD_DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

/** Weekdays (cron numbering, 0 = Sunday) as systemd writes them, Monday first: `Mon..Fri`, `Sat,Sun`. */
function weekdays(values: ReadonlySet<number>): string {
  const monFirst = [...values].map((d) => (d + 6) % 7).sort((a, b) => a - b);
  return runs(monFirst)
    .map(([a, b]) => (a === b ? SYSTEMD_DAYS[a]! : b === a + 1 ? `${SYSTEMD_DAYS[a]},${SYSTEMD_DAYS[b]}` : `${SYSTEMD_DAYS[a]}..${SYSTEMD_DAYS[b]}`))
    .join(',');
}

/**
 * Checks a cron expression and time zone as cron itself would read them (5 fields or a macro, values in
 * range), without asking whether systemd can express them. Throws {@link CronConvertError}.
 */
export function validateCron(cron: string, timezone?: string): void {
  const expr = cron.trim();
  if (expr.toLowerCase() === '@reboot') throw new CronConvertError(cron, '@reboot is not a calendar time (use a daemon instead)');
  const std = expr.startsWith('@') ? MACROS[expr.toLowerCase()] : expr;
  if (std === undefined) throw new CronConvertError(cron, `unknown macro ${expr}`);
  const parts = std.split(/\s+/);
  if (parts.length !== 5) throw new CronConvertError(cron, `expected 5 fields (minute hour day-of-month month day-of-week), found ${parts.length}`);
  if (timezone !== undefined && !validZone(timezone)) throw new CronConvertError(cron, `unknown time zone "${timezone}"`);
  parts.forEach((p, i) => parseField(p, FIELDS[i]!, cron));
}

/** True when `tz` is an IANA zone this runtime knows. */
function validZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * Converts a standard 5-field cron expression (lists, ranges, steps, month and weekday names, @daily and
 * friends) into systemd OnCalendar values. Cron runs a job when EITHER a restricted day of month OR a
 * restricted day of week matches, while one systemd expression needs both, so that case becomes two values
 * (a timer fires when any of its OnCalendar lines matches). Throws {@link CronConvertError} for what it
 * cannot express faithfully.
 */
export function cronToOnCalendar(cron: string, timezone?: string): string[] {
  validateCron(cron, timezone);
  const expr = cron.trim();
  const parts = (expr.startsWith('@') ? MACROS[expr.toLowerCase()]! : expr).split(/\s+/);
  const [min, hour, dom, month, dow] = parts.map((p, i) => parseField(p, FIELDS[i]!, cron)) as [Set<number>, Set<number>, Set<number>, Set<number>, Set<number>];
  const domText = parts[2]!;
  const dowText = parts[4]!;
  const time = `${component(hour, 0, 23)}:${component(min, 0, 59)}:00${timezone ? ` ${timezone}` : ''}`;
  const monthPart = component(month, 1, 12);
  const line = (days: Set<number> | undefined, weekdaySet: Set<number> | undefined): string => {
    const wd = weekdaySet && weekdaySet.size < 7 ? `${weekdays(weekdaySet)} ` : '';
    return `${wd}*-${monthPart}-${days ? component(days, 1, 31) : '*'} ${time}`;
  };
  const domStar = domText.startsWith('*');
  const dowStar = dowText.startsWith('*');
  if ((domStar && domText !== '*' && !dowStar) || (dowStar && dowText !== '*' && !domStar)) {
    throw new CronConvertError(cron, 'a stepped "*" in one day field combined with a restricted other day field means different things to different cron implementations; list the days instead');
  }
  if (!domStar && !dowStar) return [line(dom, undefined), line(undefined, dow)];
  return [line(dom, dow)];
}
