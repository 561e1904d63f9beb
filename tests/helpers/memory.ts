import { cpuMemoryStats, emptyCpuCache } from '../../src';
/**
 * Resident memory (MB) outside the JS heap and outside ArrayBuffer contents: the memory native code
 * holds. Both subtracted terms swing by tens of MB with V8's heap sizing and with finalizers that run
 * late, which would hide or fake a native leak in plain RSS. V8 also returns the pages of a shrunk
 * heap from a background thread, some time after the collection, so for a while RSS still counts
 * pages that heapTotal no longer does: the figure is the least of a few samples over 200 ms, which a
 * real leak, being permanent, still shows in full.
 */
export function nativeResidentMb(): number {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  let least = Infinity;
  for (let sample = 0; sample < 5; sample++) {
    if (sample > 0) Atomics.wait(pause, 0, 0, 50);
    const m = process.memoryUsage();
    least = Math.min(least, (m.rss - m.heapTotal - m.arrayBuffers) / 2 ** 20);
  }
  return least;
}

/** Bytes held by live CPU tensors (the caching allocator's count); the test fails if the allocator is off. */
export function liveTensorBytes(): number {
  const stats = cpuMemoryStats();
  if (!stats)
    throw new Error(
      'cpuMemoryStats() is null: the caching allocator is off (NC_MALLOC_DEFAULTS=1); memory tests need it',
    );
  return stats.liveBytes;
}

/** Collects garbage and gives Node turns to run the native finalizers of collected wrappers. */
export async function settle(turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) {
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((r) => setImmediate(r));
  }
}

/**
 * Native memory before and after `work` (run after `warmUp`): the change in live tensor bytes, which
 * must be exactly 0 when everything made is disposed, and in native resident MB (with the
 * allocator's cache emptied at both points, so only memory in use or leaked counts).
 */
export async function nativeGrowth(
  warmUp: () => Promise<void> | void,
  work: () => Promise<void> | void,
): Promise<{ liveBytes: number; residentMb: number }> {
  await warmUp();
  await settle();
  emptyCpuCache();
  const live = liveTensorBytes();
  const resident = nativeResidentMb();
  await work();
  await settle();
  emptyCpuCache();
  return { liveBytes: liveTensorBytes() - live, residentMb: nativeResidentMb() - resident };
}
