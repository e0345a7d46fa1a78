/**
 * A `stop` window costs more than the time the container is down: the restarted application needs its
 * start-up time before it serves again (16-60 s for the real Open WebUI). The stand-in here answers /health
 * only 4 s after each start. owb records both figures, `downtime_s` and `unavailable_s`, and shows them.
 */
import { describe, expect, it } from 'vitest';
import { backupJson } from '../support/openwebui.js';
import { useStandin } from '../support/standin-suite.js';

const { worldWithStandin } = useStandin();
const START_DELAY_S = 4;

describe('unavailability after a stop window', () => {
  it('stop: unavailable_s covers the start-up until /health answered; backup and snapshots show it', async () => {
    const { w, c } = await worldWithStandin({ run: { env: { STANDIN_START_DELAY_S: String(START_DELAY_S) } } });
    const b = backupJson(await w.ok(['backup', '--container', c.name, '--json']));
    const q = b.openwebui.quiesce;
    expect(q.mode).toBe('stop');
    expect(b.downtime_s).toBeLessThan(START_DELAY_S);
    expect(b.unavailable_s).toBe(q.unavailable_s);
    expect(q.unavailable_s).toBeGreaterThanOrEqual(q.downtime_s + START_DELAY_S - 0.5);
    expect(q.unavailable_s).toBeLessThan(q.downtime_s + START_DELAY_S + 10);
    // The snapshot stored it: the manifest was completed after the application answered.
    const listed = (await w.ok(['snapshots'])).stdout;
    expect(listed).toMatch(/Unavailable/);
    expect(listed).toContain(`${q.unavailable_s!.toFixed(2)} s`);

    const text = (await w.ok(['backup', '--container', c.name])).stdout;
    expect(text).toMatch(/Downtime: +\d+\.\d{3} s \(stop\), unavailable \d+\.\d s until \/health answered/);
  });

  it('pause: no restart, so unavailable_s is the frozen time itself', async () => {
    const { w, c } = await worldWithStandin({ run: { env: { STANDIN_START_DELAY_S: String(START_DELAY_S) } } });
    const b = backupJson(await w.ok(['backup', '--container', c.name, '--quiesce', 'pause', '--json']));
    expect(b.openwebui.quiesce.mode).toBe('pause');
    expect(b.unavailable_s).toBe(b.downtime_s);
    expect(b.downtime_s).toBeLessThan(2);
  });
});
