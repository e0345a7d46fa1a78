import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import {
  applyPolicy,
  formatRetentionDuration,
  isoWeek,
  parseDuration,
  parseGroupBy,
  parseKeepCount,
  planRetention,
  type PolicySnapshot,
  type RetentionPolicy,
} from './retention.js';

type Row = [id: string, time: string, tags?: string[]];

function snaps(rows: Row[], hostname = 'h1', paths = ['/data']): PolicySnapshot[] {
  return rows.map(([id, time, tags]) => ({ id, time, hostname, paths, tags: tags ?? [] }));
}

const LATER = new Date('2030-01-01T00:00:00Z');

/** Month, year and leap-day edges. */
const EDGES = snaps([
  ['a1', '2023-12-31T10:00:00Z'],
  ['a2', '2023-12-31T22:00:00Z'],
  ['a3', '2024-01-01T09:00:00Z'],
  ['a4', '2024-01-31T12:00:00Z'],
  ['a5', '2024-02-01T12:00:00Z'],
  ['a6', '2024-02-28T23:00:00Z'],
  ['a7', '2024-02-29T08:00:00Z'],
  ['a8', '2024-02-29T20:00:00Z'],
  ['a9', '2024-03-01T00:00:00Z'],
]);

/** ISO week edges: 2021-01-01 (a Friday) lies in ISO week 2020-W53. */
const WEEKS = snaps([
  ['w1', '2020-12-27T12:00:00Z'], // Sun, 2020-W52
  ['w2', '2020-12-28T12:00:00Z'], // Mon, 2020-W53
  ['w3', '2021-01-01T12:00:00Z'], // Fri, 2020-W53
  ['w4', '2021-01-03T12:00:00Z'], // Sun, 2020-W53
  ['w5', '2021-01-04T12:00:00Z'], // Mon, 2021-W01
  ['w6', '2021-01-10T12:00:00Z'], // Sun, 2021-W01
  ['w7', '2021-01-11T12:00:00Z'], // Mon, 2021-W02
]);

/** Europe/Berlin, spring forward 2025-03-30 02:00 CET → 03:00 CEST (01:00Z). */
const BERLIN_SPRING = snaps([
  ['b0', '2025-03-28T23:30:00Z'], // Sat 29 Mar 00:30 CET
  ['b1x', '2025-03-29T22:00:00Z'], // Sat 29 Mar 23:00 CET
  ['b1', '2025-03-29T23:30:00Z'], // Sun 30 Mar 00:30 CET
  ['b2', '2025-03-30T22:30:00Z'], // Mon 31 Mar 00:30 CEST, only 23 h after b1
]);

/** Europe/Berlin, fall back 2025-10-26 03:00 CEST → 02:00 CET (01:00Z): 02:xx happens twice. */
const BERLIN_FALL_HOURS = snaps([
  ['h0', '2025-10-25T23:30:00Z'], // 01:30 CEST
  ['h1', '2025-10-26T00:10:00Z'], // 02:10 CEST
  ['h2', '2025-10-26T00:50:00Z'], // 02:50 CEST
  ['h3', '2025-10-26T01:10:00Z'], // 02:10 CET
  ['h4', '2025-10-26T01:50:00Z'], // 02:50 CET
  ['h5', '2025-10-26T02:10:00Z'], // 03:10 CET
]);

const BERLIN_FALL_DAYS = snaps([
  ['g1', '2025-10-25T22:30:00Z'], // Sun 26 Oct 00:30 CEST
  ['g2b', '2025-10-26T22:45:00Z'], // Sun 26 Oct 23:45 CET
  ['g2', '2025-10-26T23:30:00Z'], // Mon 27 Oct 00:30 CET, 25 h after g1
]);

/** Sunday 23:30 and Monday 00:30 in Berlin are one UTC day apart but two ISO weeks. */
const BERLIN_WEEKS = snaps([
  ['z0', '2024-12-29T12:00:00Z'], // Sun, 2024-W52
  ['z1', '2025-01-05T22:30:00Z'], // Sun 5 Jan 23:30 CET, 2025-W01
  ['z2', '2025-01-05T23:30:00Z'], // Mon 6 Jan 00:30 CET, 2025-W02 (still Sunday in UTC)
]);

/** America/New_York, spring forward 2025-03-09 02:00 EST → 03:00 EDT (07:00Z). */
const NY_SPRING = snaps([
  ['n0', '2025-03-08T05:30:00Z'], // Sat 8 Mar 00:30 EST
  ['n1', '2025-03-09T05:30:00Z'], // Sun 9 Mar 00:30 EST
  ['n3', '2025-03-10T03:30:00Z'], // Sun 9 Mar 23:30 EDT
  ['n2', '2025-03-10T04:30:00Z'], // Mon 10 Mar 00:30 EDT, 23 h after n1
]);

/** America/New_York, fall back 2025-11-02 02:00 EDT → 01:00 EST (06:00Z): 01:xx happens twice. */
const NY_FALL = snaps([
  ['f0', '2025-11-02T04:15:00Z'], // 00:15 EDT
  ['f1', '2025-11-02T05:15:00Z'], // 01:15 EDT
  ['f2', '2025-11-02T06:15:00Z'], // 01:15 EST
  ['f3', '2025-11-02T07:15:00Z'], // 02:15 EST
]);

const WITHIN = snaps([
  ['k1', '2025-01-01T00:00:00Z'],
  ['k2', '2025-01-10T00:00:00Z'],
  ['k3', '2025-01-15T12:00:00Z'], // exactly 30 days before k5
  ['k4', '2025-01-31T00:00:00Z'],
  ['k5', '2025-02-14T12:00:00Z'],
]);

/** Newest on 31 March: one month back is "31 February", which Go (and restic) normalise to 3 March. */
const WITHIN_MONTH_END = snaps([
  ['m1', '2025-03-02T00:00:00Z'],
  ['m2', '2025-03-03T00:00:00Z'],
  ['m3', '2025-03-03T00:00:01Z'],
  ['m4', '2025-03-31T00:00:00Z'],
]);

/**
 * keep-within across DST: "1d" is one calendar day back on the wall clock (Go's AddDate), so 23 or 25 hours.
 * A wall time that is skipped or repeated is resolved as Go's time.Date resolves it.
 */
const WITHIN_DST = {
  berlinShortDay: snaps([
    ['q1', '2025-03-29T22:30:00Z'], // Sat 23:30 CET: 23.5 h before q3, but before "one day back"
    ['q2', '2025-03-29T23:30:00Z'], // Sun 00:30 CET
    ['q3', '2025-03-30T22:00:00Z'], // Mon 31 Mar 00:00 CEST; one day back = Sun 00:00 CET = 23:00Z
  ]),
  berlinGap: snaps([
    ['r1', '2025-03-30T01:00:00Z'], // 03:00 CEST
    ['r2', '2025-03-30T01:45:00Z'], // 03:45 CEST
    ['r3', '2025-03-31T00:30:00Z'], // Mon 02:30 CEST; one day back is the skipped 02:30, read as 03:30 CEST (01:30Z)
  ]),
  nyGap: snaps([
    ['s1', '2025-03-09T06:15:00Z'], // 01:15 EST
    ['s2', '2025-03-09T07:00:00Z'], // 03:00 EDT
    ['s3', '2025-03-10T06:30:00Z'], // Mon 02:30 EDT; one day back is the skipped 02:30, read as 01:30 EST (06:30Z)
  ]),
  berlinRepeat: snaps([
    ['u1', '2025-10-26T00:45:00Z'], // 02:45 CEST
    ['u2', '2025-10-26T01:45:00Z'], // 02:45 CET
    ['u3', '2025-10-27T01:30:00Z'], // Mon 02:30 CET; one day back is 02:30 twice: Go takes 02:30 CET (01:30Z)
  ]),
  nyRepeat: snaps([
    ['v0', '2025-11-02T05:15:00Z'], // 01:15 EDT
    ['v1', '2025-11-02T06:00:00Z'], // 01:00 EST
    ['v3', '2025-11-03T06:30:00Z'], // Mon 01:30 EST; one day back is 01:30 twice: Go takes 01:30 EDT (05:30Z)
  ]),
};

const WITHIN_DAILY = snaps([
  ['p1', '2025-05-01T08:00:00Z'],
  ['p2', '2025-05-01T20:00:00Z'],
  ['p3', '2025-05-05T10:00:00Z'],
  ['p4', '2025-05-05T11:00:00Z'],
  ['p5', '2025-05-10T09:00:00Z'],
]);

const LAST_DAILY = snaps([
  ['l1', '2025-06-01T08:00:00Z'],
  ['l2', '2025-06-01T20:00:00Z'],
  ['l3', '2025-06-02T08:00:00Z'],
  ['l4', '2025-06-02T12:00:00Z'],
  ['l5', '2025-06-02T20:00:00Z'],
  ['l6', '2025-06-03T01:00:00Z'],
]);

const TAGGED = snaps([
  ['t1', '2025-01-01T10:00:00Z', ['keep-me']],
  ['t2', '2025-01-02T10:00:00Z'],
  ['t3', '2025-01-03T10:00:00Z', ['a', 'b']],
  ['t4', '2025-01-04T10:00:00Z', ['a']],
  ['t5', '2025-01-05T10:00:00Z'],
]);

interface Case {
  name: string;
  snapshots: PolicySnapshot[];
  policy: RetentionPolicy;
  tz?: string;
  now?: Date;
  /** Exactly the kept ids, newest first. */
  keep: string[];
  /** Exact reasons for some of the kept ids. */
  reasons?: Record<string, string[]>;
}

const CASES: Case[] = [
  // Days, months, years.
  { name: 'daily 3: newest of a day wins; leap day is its own day', snapshots: EDGES, policy: { keepDaily: 3 }, keep: ['a9', 'a8', 'a6'] },
  { name: 'daily 7: 31 Dec keeps its newest (a2), count used up before a1', snapshots: EDGES, policy: { keepDaily: 7 }, keep: ['a9', 'a8', 'a6', 'a5', 'a4', 'a3', 'a2'] },
  {
    name: 'daily 8: a count left at the oldest snapshot keeps it too',
    snapshots: EDGES,
    policy: { keepDaily: 8 },
    keep: ['a9', 'a8', 'a6', 'a5', 'a4', 'a3', 'a2', 'a1'],
    reasons: { a2: ['daily snapshot'], a1: ['oldest daily snapshot'] },
  },
  { name: 'monthly 3: 31 Jan and 1 Feb are different months', snapshots: EDGES, policy: { keepMonthly: 3 }, keep: ['a9', 'a8', 'a4'] },
  { name: 'monthly 5: December, then the oldest', snapshots: EDGES, policy: { keepMonthly: 5 }, keep: ['a9', 'a8', 'a4', 'a2', 'a1'] },
  { name: 'yearly 2: 31 Dec and 1 Jan are different years', snapshots: EDGES, policy: { keepYearly: 2 }, keep: ['a9', 'a2'], reasons: { a9: ['yearly snapshot'], a2: ['yearly snapshot'] } },
  { name: 'yearly 2 in Asia/Tokyo: 31 Dec 22:00Z is already 1 Jan', snapshots: EDGES, policy: { keepYearly: 2 }, tz: 'Asia/Tokyo', keep: ['a9', 'a1'] },
  { name: 'daily 3 in America/New_York: 1 Mar 00:00Z is still leap day', snapshots: EDGES, policy: { keepDaily: 3 }, tz: 'America/New_York', keep: ['a9', 'a6', 'a5'] },
  { name: 'unlimited daily (-1): one per day, and the oldest', snapshots: EDGES, policy: { keepDaily: -1 }, keep: ['a9', 'a8', 'a6', 'a5', 'a4', 'a3', 'a2', 'a1'] },
  { name: 'unlimited yearly (-1)', snapshots: EDGES, policy: { keepYearly: -1 }, keep: ['a9', 'a2', 'a1'], reasons: { a1: ['oldest yearly snapshot'] } },
  { name: 'unlimited last (-1) keeps everything', snapshots: EDGES, policy: { keepLast: -1 }, keep: ['a9', 'a8', 'a7', 'a6', 'a5', 'a4', 'a3', 'a2', 'a1'] },

  // ISO weeks.
  { name: 'weekly 3: 1 Jan 2021 belongs to 2020-W53', snapshots: WEEKS, policy: { keepWeekly: 3 }, keep: ['w7', 'w6', 'w4'] },
  { name: 'weekly 4', snapshots: WEEKS, policy: { keepWeekly: 4 }, keep: ['w7', 'w6', 'w4', 'w1'] },
  { name: 'yearly uses the calendar year, not the ISO year', snapshots: WEEKS, policy: { keepYearly: 2 }, keep: ['w7', 'w2'] },
  { name: 'weekly 2 in Europe/Berlin: Sunday 23:30 and Monday 00:30 are two weeks', snapshots: BERLIN_WEEKS, policy: { keepWeekly: 2 }, tz: 'Europe/Berlin', keep: ['z2', 'z1'] },
  { name: 'weekly 2 in UTC: the same two are one week', snapshots: BERLIN_WEEKS, policy: { keepWeekly: 2 }, tz: 'UTC', keep: ['z2', 'z0'] },

  // DST.
  { name: 'Berlin spring: 00:30 on consecutive days (23 h apart) are two days', snapshots: BERLIN_SPRING, policy: { keepDaily: 3 }, tz: 'Europe/Berlin', keep: ['b2', 'b1', 'b1x'] },
  { name: 'Berlin spring, same data in UTC', snapshots: BERLIN_SPRING, policy: { keepDaily: 3 }, tz: 'UTC', keep: ['b2', 'b1', 'b0'] },
  {
    name: 'Berlin fall: both 02:xx hours are ONE wall-clock hour (restic keys on wall-clock fields)',
    snapshots: BERLIN_FALL_HOURS,
    policy: { keepHourly: 3 },
    tz: 'Europe/Berlin',
    keep: ['h5', 'h4', 'h0'],
  },
  { name: 'Berlin fall hours, same data in UTC', snapshots: BERLIN_FALL_HOURS, policy: { keepHourly: 3 }, tz: 'UTC', keep: ['h5', 'h4', 'h2'] },
  { name: 'Berlin fall: 00:30 on consecutive days (25 h apart) are two days', snapshots: BERLIN_FALL_DAYS, policy: { keepDaily: 2 }, tz: 'Europe/Berlin', keep: ['g2', 'g2b'] },
  { name: 'Berlin fall days, same data in UTC', snapshots: BERLIN_FALL_DAYS, policy: { keepDaily: 2 }, tz: 'UTC', keep: ['g2', 'g1'] },
  { name: 'New York spring: 00:30 on consecutive days are two days; 23:30 EDT is the newest of 9 Mar', snapshots: NY_SPRING, policy: { keepDaily: 2 }, tz: 'America/New_York', keep: ['n2', 'n3'] },
  { name: 'New York spring, same data in UTC', snapshots: NY_SPRING, policy: { keepDaily: 2 }, tz: 'UTC', keep: ['n2', 'n1'] },
  { name: 'New York fall: 01:15 EDT and 01:15 EST share one hour', snapshots: NY_FALL, policy: { keepHourly: 3 }, tz: 'America/New_York', keep: ['f3', 'f2', 'f0'] },
  { name: 'New York fall, same data in UTC', snapshots: NY_FALL, policy: { keepHourly: 3 }, tz: 'UTC', keep: ['f3', 'f2', 'f1'] },

  // keep-last with buckets.
  {
    name: 'last 3 + daily 3',
    snapshots: LAST_DAILY,
    policy: { keepLast: 3, keepDaily: 3 },
    keep: ['l6', 'l5', 'l4', 'l2'],
    reasons: { l6: ['last snapshot', 'daily snapshot'], l5: ['last snapshot', 'daily snapshot'], l4: ['last snapshot'], l2: ['daily snapshot'] },
  },
  { name: 'last 2 + daily 2 overlap', snapshots: LAST_DAILY, policy: { keepLast: 2, keepDaily: 2 }, keep: ['l6', 'l5'] },
  { name: 'last 1', snapshots: LAST_DAILY, policy: { keepLast: 1 }, keep: ['l6'], reasons: { l6: ['last snapshot'] } },

  // keep-within: measured back from the newest snapshot, not from now.
  { name: 'within 30d of the newest; exactly 30d is out', snapshots: WITHIN, policy: { keepWithin: '30d' }, keep: ['k5', 'k4'], reasons: { k5: ['within 30d'], k4: ['within 30d'] } },
  { name: 'within 1m', snapshots: WITHIN, policy: { keepWithin: '1m' }, keep: ['k5', 'k4', 'k3'] },
  { name: 'within 36d12h', snapshots: WITHIN, policy: { keepWithin: '36d12h' }, keep: ['k5', 'k4', 'k3', 'k2'], reasons: { k2: ['within 36d12h'] } },
  { name: 'within 1m from 31 Mar reaches back to "31 Feb" = 3 Mar (exclusive)', snapshots: WITHIN_MONTH_END, policy: { keepWithin: '1m' }, keep: ['m4', 'm3'] },
  {
    name: 'within: a snapshot in the future does not move the anchor',
    snapshots: [...WITHIN, ...snaps([['kf', '2031-01-01T00:00:00Z']])],
    policy: { keepWithin: '30d' },
    keep: ['kf', 'k5', 'k4'],
  },
  { name: 'within: all snapshots in the future are all kept (restic)', snapshots: WITHIN, policy: { keepWithin: '1d' }, now: new Date('2020-01-01T00:00:00Z'), keep: ['k5', 'k4', 'k3', 'k2', 'k1'] },
  { name: 'within 1d in Berlin on the 23-hour day', snapshots: WITHIN_DST.berlinShortDay, policy: { keepWithin: '1d' }, tz: 'Europe/Berlin', keep: ['q3', 'q2'] },
  { name: 'within 1d, same data in UTC (24 h)', snapshots: WITHIN_DST.berlinShortDay, policy: { keepWithin: '1d' }, tz: 'UTC', keep: ['q3', 'q2', 'q1'] },
  { name: 'within 1d landing in the Berlin spring gap', snapshots: WITHIN_DST.berlinGap, policy: { keepWithin: '1d' }, tz: 'Europe/Berlin', keep: ['r3', 'r2'] },
  { name: 'within 1d landing in the New York spring gap', snapshots: WITHIN_DST.nyGap, policy: { keepWithin: '1d' }, tz: 'America/New_York', keep: ['s3', 's2'] },
  { name: 'within 1d landing in the repeated Berlin hour', snapshots: WITHIN_DST.berlinRepeat, policy: { keepWithin: '1d' }, tz: 'Europe/Berlin', keep: ['u3', 'u2'] },
  { name: 'within 1d landing in the repeated New York hour', snapshots: WITHIN_DST.nyRepeat, policy: { keepWithin: '1d' }, tz: 'America/New_York', keep: ['v3', 'v1'] },
  { name: 'within-daily 5d', snapshots: WITHIN_DAILY, policy: { keepWithinDaily: '5d' }, keep: ['p5', 'p4'], reasons: { p5: ['daily within 5d'], p4: ['daily within 5d'] } },
  {
    name: 'within-daily 10d keeps the oldest as well',
    snapshots: WITHIN_DAILY,
    policy: { keepWithinDaily: '10d' },
    keep: ['p5', 'p4', 'p2', 'p1'],
    reasons: { p1: ['oldest daily within 10d'] },
  },
  { name: 'within-weekly 1y', snapshots: WEEKS, policy: { keepWithinWeekly: '1y' }, keep: ['w7', 'w6', 'w4', 'w1'] },
  { name: 'within-monthly 2m', snapshots: EDGES, policy: { keepWithinMonthly: '2m' }, keep: ['a9', 'a8', 'a4'] },
  { name: 'within-yearly 1y', snapshots: EDGES, policy: { keepWithinYearly: '1y' }, keep: ['a9', 'a2', 'a1'] },
  { name: 'within-hourly 1h: exactly 1 h before the newest is out', snapshots: BERLIN_FALL_HOURS, policy: { keepWithinHourly: '1h' }, keep: ['h5', 'h4'] },

  // Tags.
  { name: 'keep-tag', snapshots: TAGGED, policy: { keepTags: ['keep-me'] }, keep: ['t1'], reasons: { t1: ['tag keep-me'] } },
  { name: 'keep-tag list needs all its tags', snapshots: TAGGED, policy: { keepTags: ['a,b'] }, keep: ['t3'], reasons: { t3: ['tag a,b'] } },
  { name: 'several keep-tags: any of them', snapshots: TAGGED, policy: { keepTags: ['keep-me', 'a'] }, keep: ['t4', 't3', 't1'] },
  { name: 'keep-tag + last', snapshots: TAGGED, policy: { keepTags: ['keep-me'], keepLast: 1 }, keep: ['t5', 't1'] },
  { name: 'all reasons of one snapshot, in order', snapshots: TAGGED, policy: { keepTags: ['a'], keepWithin: '2d', keepLast: 1, keepDaily: 1 }, keep: ['t5', 't4', 't3'], reasons: { t4: ['tag a', 'within 2d'], t5: ['within 2d', 'last snapshot', 'daily snapshot'] } },
];

describe('applyPolicy', () => {
  it.each(CASES)('$name', (c) => {
    const out = applyPolicy(c.snapshots, c.policy, c.now ?? LATER, c.tz ?? 'UTC');
    expect(out.map((d) => d.snapshot.id)).toEqual([...c.snapshots].sort((a, b) => b.time.localeCompare(a.time)).map((s) => s.id));
    expect(out.filter((d) => d.keep).map((d) => d.snapshot.id)).toEqual(c.keep);
    for (const d of out) expect(d.reasons.length > 0).toBe(d.keep);
    for (const [id, reasons] of Object.entries(c.reasons ?? {})) {
      expect(out.find((d) => d.snapshot.id === id)?.reasons, id).toEqual(reasons);
    }
  });

  it('gives the same output whatever the input order (ties broken by id)', () => {
    const base = snaps([
      ...LAST_DAILY.map((s) => [s.id, s.time] as Row),
      ['tie-b', '2025-06-03T01:00:00Z'],
      ['tie-a', '2025-06-03T01:00:00Z'],
    ]);
    const policy: RetentionPolicy = { keepLast: 2, keepDaily: 2, keepHourly: 3, keepWithin: '1d' };
    const expected = applyPolicy(base, policy, LATER, 'Europe/Berlin');
    expect(expected.slice(0, 3).map((d) => d.snapshot.id)).toEqual(['l6', 'tie-a', 'tie-b']);
    let seed = 7;
    const random = (n: number): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    const orders = [[...base].reverse(), [...base.slice(3), ...base.slice(0, 3)]];
    for (let i = 0; i < 20; i++) {
      const o = [...base];
      for (let j = o.length - 1; j > 0; j--) {
        const k = random(j + 1);
        [o[j], o[k]] = [o[k]!, o[j]!];
      }
      orders.push(o);
    }
    for (const order of orders) expect(applyPolicy(order, policy, LATER, 'Europe/Berlin')).toEqual(expected);
  });

  it('uses the local zone when none is given', () => {
    const saved = process.env.TZ;
    try {
      process.env.TZ = 'Asia/Tokyo';
      const local = applyPolicy(EDGES, { keepYearly: 2 }, LATER);
      expect(local.filter((d) => d.keep).map((d) => d.snapshot.id)).toEqual(['a9', 'a1']);
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });

  it('refuses an empty policy', () => {
    for (const p of [{}, { keepDaily: 0, keepLast: 0, keepWithin: '0d', keepTags: [] }, { keepTags: [''] }] as RetentionPolicy[]) {
      expect(() => applyPolicy(EDGES, p, LATER, 'UTC')).toThrow(UsageError);
      expect(() => applyPolicy(EDGES, p, LATER, 'UTC')).toThrow('no policy given: refusing to remove all snapshots');
    }
  });

  it('rejects invalid values', () => {
    expect(() => applyPolicy(EDGES, { keepDaily: -2 }, LATER, 'UTC')).toThrow('negative values other than -1');
    expect(() => applyPolicy(EDGES, { keepDaily: 1.5 }, LATER, 'UTC')).toThrow(UsageError);
    expect(() => applyPolicy(EDGES, { keepWithin: '5x' }, LATER, 'UTC')).toThrow('unknown unit');
    expect(() => applyPolicy(EDGES, { keepWithin: '-1d' }, LATER, 'UTC')).toThrow('negative');
    expect(() => applyPolicy(EDGES, { keepDaily: 1 }, LATER, 'Mars/Olympus')).toThrow('unknown time zone');
  });

  it('returns nothing for no snapshots', () => {
    expect(applyPolicy([], { keepDaily: 1 }, LATER, 'UTC')).toEqual([]);
  });
});

describe('planRetention (grouping)', () => {
  const mixed: PolicySnapshot[] = [
    { id: 'x1', time: '2025-01-01T10:00:00Z', hostname: 'h1', paths: ['/a'], tags: [] },
    { id: 'x2', time: '2025-01-02T10:00:00Z', hostname: 'h1', paths: ['/a'], tags: ['t'] },
    { id: 'x3', time: '2025-01-03T10:00:00Z', hostname: 'h1', paths: ['/b', '/a'], tags: [] },
    { id: 'x4', time: '2025-01-04T10:00:00Z', hostname: 'h1', paths: ['/a', '/b'], tags: [] },
    { id: 'x5', time: '2025-01-05T10:00:00Z', hostname: 'h2', paths: ['/a'], tags: [] },
    { id: 'x6', time: '2025-01-06T10:00:00Z', hostname: 'h2', paths: ['/a'], tags: ['t'] },
  ];
  const kept = (groups: ReturnType<typeof planRetention>): Record<string, string[]> =>
    Object.fromEntries(groups.map((g) => [JSON.stringify(g.key), g.decisions.filter((d) => d.keep).map((d) => d.snapshot.id)]));

  it('applies the policy per host and paths by default (paths in any order)', () => {
    const groups = planRetention(mixed, { keepLast: 1 }, { groupBy: parseGroupBy('host,paths'), now: LATER, timeZone: 'UTC' });
    expect(kept(groups)).toEqual({
      '{"hostname":"h1","paths":["/a"],"tags":null}': ['x2'],
      '{"hostname":"h1","paths":["/a","/b"],"tags":null}': ['x4'],
      '{"hostname":"h2","paths":["/a"],"tags":null}': ['x6'],
    });
    expect(groups.flatMap((g) => g.decisions.filter((d) => !d.keep).map((d) => d.snapshot.id)).sort()).toEqual(['x1', 'x3', 'x5']);
  });

  it('groups by host only, by tags, or not at all', () => {
    const by = (g: string): Record<string, string[]> => kept(planRetention(mixed, { keepLast: 1 }, { groupBy: parseGroupBy(g), now: LATER, timeZone: 'UTC' }));
    expect(by('host')).toEqual({ '{"hostname":"h1","paths":null,"tags":null}': ['x4'], '{"hostname":"h2","paths":null,"tags":null}': ['x6'] });
    expect(by('tags')).toEqual({ '{"hostname":null,"paths":null,"tags":[]}': ['x5'], '{"hostname":null,"paths":null,"tags":["t"]}': ['x6'] });
    expect(by('')).toEqual({ '{"hostname":null,"paths":null,"tags":null}': ['x6'] });
  });

  it('refuses a policy that would empty a group', () => {
    expect(() => planRetention(mixed, { keepTags: ['t'] }, { groupBy: ['host', 'paths'], now: LATER, timeZone: 'UTC' })).toThrow(
      'refusing to delete last snapshot of snapshot group "host h1, paths [/a /b]"',
    );
  });

  it('rejects an unknown grouping', () => {
    expect(() => parseGroupBy('host,color')).toThrow('unknown grouping option "color"');
  });
});

describe('parsing', () => {
  it.each([
    ['1y2m3d4h', { years: 1, months: 2, days: 3, hours: 4 }, '1y2m3d4h'],
    ['4h3d', { years: 0, months: 0, days: 3, hours: 4 }, '3d4h'],
    ['30d', { years: 0, months: 0, days: 30, hours: 0 }, '30d'],
    ['', { years: 0, months: 0, days: 0, hours: 0 }, ''],
  ])('duration %s', (text, parsed, canonical) => {
    expect(parseDuration(text)).toEqual(parsed);
    expect(formatRetentionDuration(parseDuration(text))).toBe(canonical);
  });

  it.each(['d', '5', '3w', '1d-2h'])('rejects duration %s', (text) => {
    expect(() => parseDuration(text)).toThrow(UsageError);
  });

  it('parses counts', () => {
    expect(parseKeepCount('7')).toBe(7);
    expect(parseKeepCount('-1')).toBe(-1);
    expect(parseKeepCount('unlimited')).toBe(-1);
    expect(() => parseKeepCount('-2')).toThrow('negative values other than -1');
    expect(() => parseKeepCount('seven', '--keep-daily')).toThrow('--keep-daily: "seven" is not a number');
  });

  it.each([
    ['2021-01-01', [2020, 53]],
    ['2020-12-31', [2020, 53]],
    ['2019-12-30', [2020, 1]],
    ['2024-12-30', [2025, 1]],
    ['2026-01-01', [2026, 1]],
    ['2027-01-01', [2026, 53]],
    ['2016-01-03', [2015, 53]],
    ['2024-02-29', [2024, 9]],
  ])('ISO week of %s', (date, expected) => {
    const [y, m, d] = date.split('-').map(Number) as [number, number, number];
    expect(isoWeek(y, m, d)).toEqual(expected);
  });
});
