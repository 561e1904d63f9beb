// libtorch's CPU allocator, replaced by one that keeps freed large blocks for reuse. Plain C++ on c10.
//
// Large blocks (128 KiB and up) are mapped from the kernel directly, never from malloc's heap, so
// they cannot fragment it; when freed they wait in a cache of size classes and serve the next
// request of their class without a page fault. The cache holds at most a fixed number of bytes
// (NC_CPU_CACHE_MB, default the smaller of 512 MiB and an eighth of RAM; 0 caches nothing), the
// blocks freed longest ago going back to the kernel first. Smaller blocks come from malloc.
#pragma once
namespace nc {

/** Makes the caching allocator libtorch's CPU allocator; later CPU tensors use it. Call once. */
void install_cpu_allocator();

}  // namespace nc
