#include "allocator.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <vector>

namespace nc {
namespace {

// Every block starts with a header of one alignment unit, so the data keeps libtorch's 64-byte
// alignment and the one deleter can tell cached blocks from small ones.
constexpr size_t kAlign = 64;
// Blocks from 1 KiB on (beyond glibc's exact-size tcache bins) are cached: freed, they stay ours for
// reuse instead of going back to malloc. Returned to its heap, a freed block is a hole that small,
// long-lived objects get carved from (JS wrappers, whose finalizers wait for the event loop), so the
// next request of its size takes fresh memory: a synchronous loop at batch 16,384 grew by one
// output tensor (64 KiB) per call, to gigabytes.
constexpr size_t kCached = 1 << 10;
// Classes from 128 KiB on are mapped from the kernel, not taken from malloc's heap at all.
constexpr size_t kMapped = 128 << 10;
constexpr int kClassesPerDoubling = 8;  // at most 12.5 % slack per block; nearby sizes share a class

struct alignas(kAlign) Header {
  size_t bytes;   // what the block takes from memory, header included: its class size if cached
  bool uncached;  // under 1 KiB: freed straight back to malloc
  Header* prev_in_class;
  Header* next_in_class;
  Header* older;  // the cache's order of freeing, for eviction
  Header* newer;
};
static_assert(sizeof(Header) == kAlign, "the header is one alignment unit");

Header* header_of(void* data) { return static_cast<Header*>(data) - 1; }
void* data_of(Header* h) { return h + 1; }

size_t page_size() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

/** The block size serving `bytes`: rounded up to an eighth of its power of two. */
size_t size_class(size_t bytes) {
  const int top = 63 - __builtin_clzll(bytes);
  const size_t step = size_t(1) << (top - 3);
  return (bytes + step - 1) / step * step;
}

/** Index of a class size: its power of two and its eighth within it. */
size_t class_index(size_t bytes) {
  const int top = 63 - __builtin_clzll(bytes);
  return static_cast<size_t>(top) * kClassesPerDoubling + ((bytes >> (top - 3)) & (kClassesPerDoubling - 1));
}

/**
 * Asks the kernel for 2 MiB pages over the whole 2 MiB stretches of [data, data + bytes), memory not
 * yet written: where Linux's transparent huge pages are in madvise mode, a new mapping of megabytes
 * then faults in once per 2 MiB instead of once per 4 KiB page (in always mode it does so anyway;
 * without THP, or off Linux, this does nothing).
 */
void advise_huge_pages(void* data, size_t bytes) {
#ifdef MADV_HUGEPAGE
  constexpr uintptr_t kHuge = uintptr_t(2) << 20;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) & ~(kHuge - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);  // a hint: failure is harmless
#endif
}

/** A new block of a class size from the kernel or from malloc; null when there is no memory. */
Header* new_block(size_t bytes) {
  void* base = nullptr;
  if (bytes >= kMapped) {
    base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)
      base = nullptr;
    else
      advise_huge_pages(base, bytes);
  } else if (posix_memalign(&base, kAlign, bytes) != 0) {
    base = nullptr;
  }
  auto* h = static_cast<Header*>(base);
  if (h) *h = {bytes, false, nullptr, nullptr, nullptr, nullptr};
  return h;
}

void delete_block(Header* h) {
  if (h->bytes >= kMapped)
    munmap(h, h->bytes);
  else
    std::free(h);
}

size_t default_limit() {
  if (const char* mb = std::getenv("NC_CPU_CACHE_MB")) return static_cast<size_t>(std::strtoull(mb, nullptr, 10)) << 20;
  const size_t ram = static_cast<size_t>(sysconf(_SC_PHYS_PAGES)) * page_size();
  return std::min<size_t>(size_t(512) << 20, ram / 8);
}

class CachingCpuAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t n) override {
    void* data = n == 0 ? nullptr : n < kCached ? small(n) : cached(n);
    return {data, data, &release, c10::Device(c10::kCPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }
  void copy_data(void* dest, const void* src, size_t count) const override { default_copy_data(dest, src, count); }

  static CachingCpuAllocator& instance() {
    // Never destroyed: tensors freed during exit still reach a live cache.
    static auto* a = new CachingCpuAllocator();
    return *a;
  }

  CpuMemoryStats stats() {
    std::lock_guard<std::mutex> hold(lock_);
    return {live_.load(std::memory_order_relaxed), peak_.load(std::memory_order_relaxed), cached_, limit_};
  }

  void empty() { discard(evict(0)); }

  void reset_peak() { peak_.store(live_.load(std::memory_order_relaxed), std::memory_order_relaxed); }

 private:
  std::mutex lock_;
  const size_t limit_ = default_limit();
  size_t cached_ = 0;
  std::atomic<size_t> live_{0};  // bytes of blocks handed out and not yet freed, headers included
  std::atomic<size_t> peak_{0};  // the most live_ has been since reset_peak
  std::array<Header*, 64 * kClassesPerDoubling> classes_{};  // per class, the most recently freed first
  Header* newest_ = nullptr;
  Header* oldest_ = nullptr;

  void* small(size_t n) {
    void* base = nullptr;
    if (posix_memalign(&base, kAlign, n + sizeof(Header)) != 0) base = nullptr;
    TORCH_CHECK(base, "CPU allocator: not enough memory for ", n, " bytes");
    auto* h = static_cast<Header*>(base);
    *h = {n + sizeof(Header), true, nullptr, nullptr, nullptr, nullptr};
    return hand_out(h);
  }

  void* hand_out(Header* h) {
    const size_t live = live_.fetch_add(h->bytes, std::memory_order_relaxed) + h->bytes;
    size_t peak = peak_.load(std::memory_order_relaxed);
    while (live > peak && !peak_.compare_exchange_weak(peak, live, std::memory_order_relaxed)) {
    }
    return data_of(h);
  }

  void* cached(size_t n) {
    const size_t bytes = size_class(n + sizeof(Header));
    {
      std::lock_guard<std::mutex> hold(lock_);
      if (Header* h = classes_[class_index(bytes)]) {
        unlink(h);
        return hand_out(h);
      }
    }
    Header* h = new_block(bytes);
    if (!h) {
      // The cache may hold the memory this request needs.
      discard(evict(0));
      h = new_block(bytes);
    }
    TORCH_CHECK(h, "CPU allocator: not enough memory for ", n, " bytes");
    return hand_out(h);
  }

  static void release(void* data) {
    if (data == nullptr) return;
    Header* h = header_of(data);
    instance().live_.fetch_sub(h->bytes, std::memory_order_relaxed);
    if (h->uncached) return std::free(h);
    instance().keep(h);
  }

  void keep(Header* h) {
    std::vector<Header*> evicted;
    if (h->bytes > limit_) {
      evicted.push_back(h);
    } else {
      std::lock_guard<std::mutex> hold(lock_);
      Header*& head = classes_[class_index(h->bytes)];
      *h = {h->bytes, false, nullptr, head, newest_, nullptr};
      if (head) head->prev_in_class = h;
      head = h;
      (newest_ ? newest_->newer : oldest_) = h;
      newest_ = h;
      cached_ += h->bytes;
      evicted = evict_locked(limit_);
    }
    discard(evicted);
  }

  /** Removes a cached block from its class and from the freeing order; the lock is held. */
  void unlink(Header* h) {
    (h->prev_in_class ? h->prev_in_class->next_in_class : classes_[class_index(h->bytes)]) = h->next_in_class;
    if (h->next_in_class) h->next_in_class->prev_in_class = h->prev_in_class;
    (h->older ? h->older->newer : oldest_) = h->newer;
    (h->newer ? h->newer->older : newest_) = h->older;
    cached_ -= h->bytes;
  }

  /** Takes the oldest cached blocks out until at most `keep` bytes stay; the lock is held. */
  std::vector<Header*> evict_locked(size_t keep) {
    std::vector<Header*> out;
    while (cached_ > keep) {
      out.push_back(oldest_);
      unlink(oldest_);
    }
    return out;
  }

  std::vector<Header*> evict(size_t keep) {
    std::lock_guard<std::mutex> hold(lock_);
    return evict_locked(keep);
  }

  // Outside the lock: munmap and free are the slow part and need no shared state.
  static void discard(const std::vector<Header*>& blocks) {
    for (Header* h : blocks) delete_block(h);
  }
};

// Set once, while the addon loads, before any other thread can read it.
bool installed = false;

}  // namespace

void install_cpu_allocator() {
  // Priority 1 outranks libtorch's own registration (0).
  c10::SetCPUAllocator(&CachingCpuAllocator::instance(), 1);
  installed = true;
}

std::optional<CpuMemoryStats> cpu_memory_stats() {
  if (!installed) return std::nullopt;
  return CachingCpuAllocator::instance().stats();
}

void empty_cpu_cache() {
  if (installed) CachingCpuAllocator::instance().empty();
#if defined(__GLIBC__)
  malloc_trim(0);  // and the heap's free pages, which the fixed trim threshold keeps (native/tensor.cpp)
#endif
}

void reset_cpu_peak() {
  if (installed) CachingCpuAllocator::instance().reset_peak();
}

}  // namespace nc
