import { describe, expect, it } from 'vitest';
import { stagingItem } from './disk.js';

describe('stagingItem', () => {
  it('needs 1.2 × the database and vector store', () => {
    expect(stagingItem('/s', 1200, 1000).status).toBe('PASS');
    expect(stagingItem('/s', 1199, 1000)).toMatchObject({ status: 'FAIL', name: 'staging space' });
    expect(stagingItem('/s', 0, 0).status).toBe('PASS');
  });
});
