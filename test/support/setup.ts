// Vitest setup file: the same test-only instrumentation inside the test workers as in the owb processes they
// start (cheap scrypt keys for the hundreds of repositories the suite creates).
import './preload.mjs';
