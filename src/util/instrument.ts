/**
 * Extension points that only a test preload fills (test/support/preload.mjs, loaded with `node --import`).
 * Production code never reads a test setting from the environment: a user cannot lower the KDF cost or inject a
 * fault by setting a variable, because the code that would do so is not part of the package.
 */
export interface Instrumentation {
  /** Wraps every backend the storage stack opens (crash-safety tests kill the process after N writes). */
  wrapBackend?: <B>(backend: B) => B;
  /** Called at named points of long operations; may delay or throw (a fault inside the quiesce window). */
  point?: (name: string) => void | Promise<void>;
  /** scrypt cost for new keys; test suites create hundreds of repositories. */
  scrypt?: { N: number; r: number; p: number };
}

const KEY = Symbol.for('owb.instrumentation');

/** The instrumentation installed by a test preload, or none. */
export function instrumentation(): Instrumentation {
  return ((globalThis as Record<symbol, unknown>)[KEY] as Instrumentation | undefined) ?? {};
}

/** Runs the named point's hook, if a test installed one. */
export async function instrumentationPoint(name: string): Promise<void> {
  await instrumentation().point?.(name);
}
