// A fixed number of lanes working through a list: the CI's --jobs. Stops taking new items once
// the signal is aborted (--fail-fast, Ctrl-C); items not started are left to the caller to
// report. The worker must not throw (it records its own failures).
export async function runPool<T>(items: readonly T[], jobs: number, worker: (item: T, index: number) => Promise<void>, signal: AbortSignal): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length && !signal.aborted) {
      const i = next++;
      await worker(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, items.length)) }, lane));
}
