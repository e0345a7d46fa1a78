/** The shapes of a run's record, shared by the run log (which writes them) and the report (which renders them). */

/** A value recorded with `set` (sizes in bytes, ids, seconds). */
export type RunValue = number | string | boolean;

/** One step of a run as recorded. `ok` and `duration_s` are null for a step that never finished. */
export interface StepRecord {
  name: string;
  start: string;
  duration_s: number | null;
  ok: boolean | null;
  detail?: string;
}

/** A timestamped event, e.g. `container_down`. */
export interface EventRecord {
  time: string;
  kind: string;
  detail?: string | Record<string, unknown>;
}

/** The line appended to owb.jsonl for each run. */
export interface RunRecord {
  time: string;
  run_id: string;
  job: string;
  host: string;
  ok: boolean;
  exit_code: number;
  duration_s: number;
  steps: StepRecord[];
  events: EventRecord[];
  values: Record<string, RunValue>;
  error?: string;
  /** File name of the human-readable report, in the same directory. */
  report: string;
}
