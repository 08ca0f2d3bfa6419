/**
 * Another process sharing the database (the app and a CLI job, two CLI jobs) can hold its write lock beyond the
 * busy timeout under heavy load; a locked write is retried a few times before the job is failed over it.
 */
export async function withBusyRetry<T>(write: () => Promise<T>, attempts = 4, delayMs = 500): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await write();
    } catch (err) {
      const busy =
        (err as { code?: string }).code === 'SQLITE_BUSY' ||
        /database is locked/.test((err as Error).message);
      if (!busy || i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, delayMs * i));
    }
  }
}
