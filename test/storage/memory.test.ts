import { MemoryBackend } from '../../src/storage/memory.js';
import { runBackendConformance } from './conformance.js';

runBackendConformance('MemoryBackend', async () => ({ backend: new MemoryBackend(), cleanup: async () => {} }));
