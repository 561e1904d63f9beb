// libtorch's CPU allocator, replaced by one that keeps freed blocks for reuse. Plain C++ on c10.
//
// Blocks of 1 KiB and up are cached by size class: freed, they wait for the next request of their
// class instead of going back to malloc, so its heap never gets holes that other objects fragment,
// and large blocks (128 KiB and up, mapped from the kernel, never from the heap) are reused without
// page faults. The cache holds at most a fixed number of bytes (NC_CPU_CACHE_MB, default the
// smaller of 512 MiB and an eighth of RAM; 0 caches nothing), the blocks freed longest ago going
// back first. Smaller blocks come from malloc.
#pragma once
namespace nc {

/** Makes the caching allocator libtorch's CPU allocator; later CPU tensors use it. Call once. */
void install_cpu_allocator();

}  // namespace nc
