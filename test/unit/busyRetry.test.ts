/** A write that meets another process's lock is retried; other failures are not. */
import { describe, expect, it } from 'vitest';
import { withBusyRetry } from '../../src-main/jobs/busyRetry.ts';

const busy = () => Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });

describe('withBusyRetry', () => {
  it('retries a locked write until it succeeds', async () => {
    let calls = 0;
    const result = await withBusyRetry(
      async () => {
        calls++;
        if (calls < 3) throw busy();
        return 'written';
      },
      4,
      1,
    );
    expect(result).toBe('written');
    expect(calls).toBe(3);
  });

  it('gives up after the last attempt, and never retries other errors', async () => {
    let calls = 0;
    await expect(
      withBusyRetry(
        async () => {
          calls++;
          throw busy();
        },
        3,
        1,
      ),
    ).rejects.toThrow(/locked/);
    expect(calls).toBe(3);
    calls = 0;
    await expect(
      withBusyRetry(
        async () => {
          calls++;
          throw new Error('constraint failed');
        },
        3,
        1,
      ),
    ).rejects.toThrow(/constraint/);
    expect(calls).toBe(1);
  });
});
