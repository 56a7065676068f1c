// A fixed number of lanes working through a list (ci --jobs, validate --jobs). Stops taking new
// items once the signal is aborted (--fail-fast, Ctrl-C); the results of items never started
// are undefined, left to the caller to report. A worker that throws rejects the whole pool.
export async function runPool<T, R>(items: readonly T[], jobs: number, worker: (item: T, index: number) => Promise<R>, signal?: AbortSignal): Promise<Array<R | undefined>> {
  const results: Array<R | undefined> = new Array<R | undefined>(items.length).fill(undefined);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length && !signal?.aborted) {
      const i = next++;
      results[i] = await worker(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, items.length)) }, lane));
  return results;
}
