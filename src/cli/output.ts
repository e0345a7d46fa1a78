import { formatBytes, formatDuration } from './format.js';

/** Where the CLI writes: JSON or human text on stdout, warnings and progress on stderr. */
export class Output {
  private lastDraw = 0;
  private drawn = false;
  /** True once the run's one JSON document is out: a failure after it must not print a second one. */
  jsonPrinted = false;

  constructor(
    readonly json: boolean,
    readonly quiet: boolean,
    readonly verbose: boolean,
    private readonly stdout: NodeJS.WriteStream = process.stdout,
    private readonly stderr: NodeJS.WriteStream = process.stderr,
  ) {}

  /** True when progress may be drawn: a terminal, and neither --json nor --quiet. */
  get showProgress(): boolean {
    return !this.json && !this.quiet && this.stderr.isTTY === true;
  }

  /** Human text on stdout (suppressed by --json and --quiet). */
  info(line: string): void {
    if (this.json || this.quiet) return;
    this.clearProgress();
    this.stdout.write(`${line}\n`);
  }

  /** The one JSON document of a --json run. */
  printJson(value: unknown): void {
    this.jsonPrinted = true;
    this.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** A warning on stderr, always shown (stdout stays clean for JSON). */
  warn(line: string): void {
    this.clearProgress();
    this.stderr.write(`warning: ${line}\n`);
  }

  /** Redraws a one-line progress status at most 5 times a second. */
  progress(text: string, force = false): void {
    if (!this.showProgress) return;
    const now = Date.now();
    if (!force && now - this.lastDraw < 200) return;
    this.lastDraw = now;
    const width = (this.stderr.columns ?? 100) - 1;
    this.stderr.write(`\r\x1b[K${text.length > width ? text.slice(0, width) : text}`);
    this.drawn = true;
  }

  /** Removes the progress line. */
  clearProgress(): void {
    if (!this.drawn) return;
    this.stderr.write('\r\x1b[K');
    this.drawn = false;
  }
}

/** A progress line: "[0:12] 1,234 files  1.20 GiB / 3.40 GiB  240 MB/s  ETA 0:09". */
export function progressLine(startMs: number, files: number, bytes: number, totalBytes?: number): string {
  const elapsed = (Date.now() - startMs) / 1000;
  const rate = elapsed > 0 ? bytes / elapsed : 0;
  let line = `[${formatDuration(elapsed)}] ${files.toLocaleString('en-US')} files  ${formatBytes(bytes)}`;
  if (totalBytes !== undefined && totalBytes > 0) {
    const pct = Math.min(100, (bytes / totalBytes) * 100);
    line += ` / ${formatBytes(totalBytes)} (${pct.toFixed(1)}%)`;
  }
  line += `  ${formatBytes(rate)}/s`;
  if (totalBytes !== undefined && totalBytes > 0 && rate > 0 && bytes < totalBytes) {
    line += `  ETA ${formatDuration((totalBytes - bytes) / rate)}`;
  }
  return line;
}
