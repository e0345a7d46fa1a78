import type { Backend, Handle } from './backend.js';

/**
 * Fault injection for crash-safety tests: kills this process with SIGKILL right after the Nth mutating
 * call (save or remove) has completed, as a power cut or `kill -9` would. Enabled only by the
 * OWB_FAULT_KILL_AFTER_WRITES environment variable; never used otherwise.
 */
export function killAfterWrites(backend: Backend, writes: number): Backend {
  let count = 0;
  const tick = (): void => {
    if (++count >= writes) process.kill(process.pid, 'SIGKILL');
  };
  return {
    location: backend.location,
    properties: backend.properties,
    create: () => backend.create(),
    save: async (h: Handle, data: Uint8Array) => {
      await backend.save(h, data);
      tick();
    },
    remove: async (h: Handle) => {
      await backend.remove(h);
      tick();
    },
    load: (h, offset, length) => backend.load(h, offset, length),
    openReadStream: (h) => backend.openReadStream(h),
    stat: (h) => backend.stat(h),
    exists: (h) => backend.exists(h),
    list: (t) => backend.list(t),
    close: () => backend.close(),
  };
}
