// CPU memory as the caching allocator sees it (native/allocator.h): what tensors hold, and what
// freed blocks it keeps for reuse.
import { native, type CpuMemoryStats } from './native';

export type { CpuMemoryStats };

/**
 * Live and cached bytes of CPU tensor memory; null when the caching allocator is off
 * (NC_MALLOC_DEFAULTS=1, where libtorch and glibc allocate on their own).
 */
export const cpuMemoryStats = (): CpuMemoryStats | null => native().cpuMemoryStats();

/**
 * Gives the memory of every cached block, and malloc's free heap pages, back to the system, as
 * after a large job whose batch sizes will not come again. Tensors in use keep theirs; later
 * allocations refill the cache.
 */
export const emptyCpuCache = (): void => native().emptyCpuCache();

/** Starts `peakBytes` again from the bytes live now, to measure the peak of what follows. */
export const resetCpuPeak = (): void => native().resetCpuPeak();
