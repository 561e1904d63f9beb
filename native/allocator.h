// libtorch's CPU allocator, replaced by one that keeps freed blocks for reuse. Plain C++ on c10.
//
// Blocks of 1 KiB and up are cached by size class: freed, they wait for the next request of their
// class instead of going back to malloc, so its heap never gets holes that other objects fragment,
// and large blocks (128 KiB and up, mapped from the kernel, never from the heap) are reused without
// page faults. The cache holds at most a fixed number of bytes (NC_CPU_CACHE_MB, default the
// smaller of 512 MiB and an eighth of RAM; 0 caches nothing), the blocks freed longest ago going
// back first. Smaller blocks come from malloc.
#pragma once
#include <cstddef>
#include <optional>

namespace nc {

/** Makes the caching allocator libtorch's CPU allocator; later CPU tensors use it. Call once. */
void install_cpu_allocator();

struct CpuMemoryStats {
  size_t live_bytes;    // held by tensors now (block sizes, headers included)
  size_t peak_bytes;    // the most live_bytes has been since the last reset_cpu_peak()
  size_t cached_bytes;  // freed and kept for reuse
  size_t cache_limit_bytes;
};

/** The caching allocator's figures; none when it is not installed (NC_MALLOC_DEFAULTS=1). */
std::optional<CpuMemoryStats> cpu_memory_stats();

/** Gives every cached block back to the system. Tensors in use keep their memory. */
void empty_cpu_cache();

/** Starts peak_bytes again from the bytes live now. */
void reset_cpu_peak();

}  // namespace nc
