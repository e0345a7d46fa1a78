// Test-only instrumentation, loaded into every owb process the tests start (`node --import` through
// NODE_OPTIONS, see cli.ts) and into the test workers (setup.ts). It fills the extension points of
// src/util/instrument.ts; nothing in the package reads these variables.
//   cheap scrypt keys, always: the suite creates hundreds of repositories
//   OWB_FAULT_KILL_AFTER_WRITES=N   SIGKILL right after the Nth save or remove (a power cut, for crash-safety tests)
//   OWB_FAULT_HOLD_WINDOW_MS=MS     hold the quiesce window open (a signal can land inside it)
//   OWB_FAULT_FAIL_IN_WINDOW=1      fail inside the quiesce window
//   OWB_FAULT_HOLD_AT=POINT:MS      wait MS at the named point (e.g. backup.before-commit), printing
//                                   "owb-test: holding at POINT" on stderr first, so a test knows when to act

const KEY = Symbol.for('owb.instrumentation');

function killAfterWrites(backend, writes) {
  let count = 0;
  const tick = () => {
    if (++count >= writes) process.kill(process.pid, 'SIGKILL');
  };
  return new Proxy(backend, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (prop !== 'save' && prop !== 'remove') return typeof v === 'function' ? v.bind(target) : v;
      return async (...args) => {
        await v.apply(target, args);
        tick();
      };
    },
  });
}

const killAfter = Number(process.env.OWB_FAULT_KILL_AFTER_WRITES ?? 0);
const holdMs = Number(process.env.OWB_FAULT_HOLD_WINDOW_MS ?? 0);
const failInWindow = process.env.OWB_FAULT_FAIL_IN_WINDOW === '1';
const [holdAt, holdAtMs] = (process.env.OWB_FAULT_HOLD_AT ?? '').split(':');

globalThis[KEY] = {
  scrypt: { N: 1024, r: 8, p: 1 },
  ...(killAfter > 0 ? { wrapBackend: (b) => killAfterWrites(b, killAfter) } : {}),
  async point(name) {
    if (name === holdAt) {
      process.stderr.write(`owb-test: holding at ${name}\n`);
      await new Promise((r) => setTimeout(r, Number(holdAtMs)));
    }
    if (name !== 'capture.window') return;
    if (holdMs > 0) await new Promise((r) => setTimeout(r, holdMs));
    if (failInWindow) throw new Error('injected failure inside the backup window');
  },
};
