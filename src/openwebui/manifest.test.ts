import { describe, expect, it } from 'vitest';
import { hostPathOf } from './manifest.js';

describe('hostPathOf', () => {
  it('maps absolute paths under the app data directory, and nothing else', () => {
    expect(hostPathOf('/app/backend/data/uploads/a', '/app/backend/data', '/v')).toBe('/v/uploads/a');
    expect(hostPathOf('/app/backend/database/a', '/app/backend/data', '/v')).toBeUndefined();
  });

  it('maps the relative paths of a relative DATA_DIR, with or without ./', () => {
    expect(hostPathOf('data/uploads/a', './data', '/v')).toBe('/v/uploads/a');
    expect(hostPathOf('./data/uploads/b', 'data', '/v')).toBe('/v/uploads/b');
    expect(hostPathOf('database/c', 'data', '/v')).toBeUndefined();
  });
});
