// c10d for data-parallel fits: TCPStore for the rendezvous, ProcessGroupGloo for the collectives,
// both as libtorch_cpu.so exports them (or ProcessGroupNCCL, distributed_nccl.cpp, in builds with
// NCCL). ProcessGroupGloo.hpp compiles here against the declarations in native/gloo_declarations
// (the wheel has no gloo headers; see their README and docs/architecture.md), and
// gloo_layout_problem() checks that against the loaded library.
#include "distributed.h"

#include <ATen/ATen.h>
#include <arpa/inet.h>
#include <c10/util/Exception.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <vector>

#include "errors.h"
#if defined(NC_WITH_NCCL)
#include "distributed_nccl.h"
#include "tensor.h"
#endif

namespace nc {
namespace {

using std::chrono::milliseconds;

std::string cause_of(const std::exception& e) {
  if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) return c10->what_without_backtrace();
  return e.what();
}

bool loopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1"; }

/**
 * The address this machine sends from to reach `host` (the local end of a UDP socket connected
 * there: connecting sends nothing), or "" when there is no route.
 */
std::string address_towards(const std::string& host) {
  addrinfo hints{}, *found = nullptr;
  hints.ai_socktype = SOCK_DGRAM;
  if (getaddrinfo(host.c_str(), "9", &hints, &found) != 0) return "";
  std::string out;
  const int fd = socket(found->ai_family, SOCK_DGRAM, 0);
  sockaddr_storage local{};
  socklen_t size = sizeof local;
  char text[INET6_ADDRSTRLEN] = "";
  if (fd >= 0 && connect(fd, found->ai_addr, found->ai_addrlen) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&local), &size) == 0) {
    const void* at = local.ss_family == AF_INET6
                         ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&local)->sin6_addr)
                         : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&local)->sin_addr);
    if (inet_ntop(local.ss_family, at, text, sizeof text)) out = text;
  }
  if (fd >= 0) close(fd);
  freeaddrinfo(found);
  return out;
}

/**
 * The network device gloo connects through: GLOO_SOCKET_IFNAME's interface when set (as PyTorch
 * reads it), the loopback for a rendezvous on this machine, else the address this machine reaches
 * rank 0 from (the hostname's address, which gloo would take by default, is often a loopback one).
 */
std::shared_ptr<::gloo::transport::Device> device_for(const std::string& host) {
  if (const char* name = std::getenv("GLOO_SOCKET_IFNAME"); name && *name)
    return c10d::ProcessGroupGloo::createDeviceForInterface(name);
  if (loopback(host)) return c10d::ProcessGroupGloo::createDeviceForHostname(host == "::1" ? host : "127.0.0.1");
  const std::string local = address_towards(host);
  return local.empty() ? c10d::ProcessGroupGloo::createDefaultDevice()
                       : c10d::ProcessGroupGloo::createDeviceForHostname(local);
}

c10::intrusive_ptr<c10d::ProcessGroupGloo::Options> gloo_options(const std::string& host, milliseconds timeout,
                                                                 int threads) {
  auto options = c10d::ProcessGroupGloo::Options::create(timeout);
  options->devices.push_back(device_for(host));
  options->threads = threads;
  return options;
}

}  // namespace

struct Collective::Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;
};

#if !defined(NC_WITH_NCCL)
std::string nccl_version() { return ""; }
#endif

Collective::Collective(DistributedSpec spec) : spec_(std::move(spec)) {
  if (!spec_.nccl) return;
#if defined(NC_WITH_NCCL)
  parse_device("cuda:" + std::to_string(spec_.cuda_device));  // says why when the device is not visible
  // For ProcessGroupNCCL's constructor: a collective that times out aborts its communicator and fails
  // its wait with an Error (2, CleanUpOnly) instead of tearing the whole process down (the default).
  // Set here, on the caller's thread rather than the fit's; a value the user set is kept.
  setenv("TORCH_NCCL_ASYNC_ERROR_HANDLING", "2", 0);
#else
  throw Error(std::string("fit: distributed.backend 'nccl' needs a CUDA build with NCCL, and this one ") +
              (at::detail::getCUDAHooks().isBuilt() ? "was built without NCCL's headers (`neuralc doctor` says more)"
                                                    : "has no CUDA (`NC_TORCH=cuda npm install` makes one)") +
              "; use backend 'gloo'");
#endif
}
Collective::~Collective() {
  // ProcessGroupNCCL wants its communicators ended before it is destroyed (as PyTorch's
  // destroy_process_group does); Gloo's needs nothing.
  if (group_ && spec_.nccl) try {
      group_->backend->shutdown();
    } catch (...) {
    }
}

c10::Device Collective::device() const {
  return spec_.nccl ? c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(spec_.cuda_device)) : c10::kCPU;
}

Collective::Group& Collective::group() {
  if (group_) return *group_;
  const DistributedSpec& s = spec_;
  const std::string who = "fit: rank " + std::to_string(s.rank) + " of " + std::to_string(s.world_size);
  const std::string where = "tcp://" + s.host + ":" + std::to_string(s.port);
  auto group = std::make_unique<Group>();
  try {
    c10d::TCPStoreOptions o;
    o.port = static_cast<std::uint16_t>(s.port);
    o.isServer = s.rank == 0;
    o.numWorkers = s.world_size;
    o.waitWorkers = true;
    o.timeout = milliseconds(s.timeout_ms);
    group->store = c10::make_intrusive<c10d::TCPStore>(s.host, o);
#if defined(NC_WITH_NCCL)
    if (s.nccl) group->backend = nccl_backend(group->store, s.rank, s.world_size, milliseconds(s.timeout_ms));
#endif
    // Two worker threads, PyTorch's default: with one, an allreduce of a few numbers between two
    // processes of this machine took 1 to 4 ms instead of 0.3 to 0.6 ms.
    if (!s.nccl)
      group->backend = c10::make_intrusive<c10d::ProcessGroupGloo>(group->store, s.rank, s.world_size,
                                                                   gloo_options(s.host, milliseconds(s.timeout_ms), 2));
  } catch (const std::exception& e) {
    throw DistributedError(who + " could not meet the other ranks at " + where + " within " +
                           number_text(s.timeout_ms / 1000.0, 6) + " s (" + cause_of(e) +
                           "): start every rank with the same address and worldSize, each with its own rank, rank 0 " +
                           "included, and check that rank 0's address and port are reachable");
  }
  group_ = std::move(group);
  return *group_;
}

template <class F>
void Collective::communicate(const char* what, F&& f) {
  std::lock_guard<std::mutex> lock(mutex_);
  Group& g = group();
  const auto start = std::chrono::steady_clock::now();
  try {
    // Gloo's wait blocks until its own timeout (in its options); NCCL's only orders the CUDA streams
    // unless given one, and then blocks the CPU until the sum is there or the timeout has passed.
    f(*g.backend)->wait(spec_.nccl ? milliseconds(spec_.timeout_ms) : ::kNoTimeout);
  } catch (const std::exception& e) {
    if (spec_.nccl) try {
        g.backend->abort();  // its communicator may be stuck in a collective the others never join
      } catch (...) {
      }
    throw DistributedError("fit: rank " + std::to_string(spec_.rank) + " of " + std::to_string(spec_.world_size) +
                           ": " + what + " failed (" + cause_of(e) +
                           "); another rank stopped, failed or did not answer within " +
                           number_text(spec_.timeout_ms / 1000.0, 6) + " s (the timeout)");
  }
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void Collective::allreduce_sum(at::Tensor& t) {
  communicate("summing the gradients over the ranks", [&](c10d::Backend& backend) {
    std::vector<at::Tensor> tensors{t};
    return backend.allreduce(tensors);
  });
}

at::Tensor Collective::allgather(const at::Tensor& t) {
  std::vector<at::Tensor> outputs;
  for (int r = 0; r < spec_.world_size; ++r) outputs.push_back(at::empty_like(t));
  std::vector<std::vector<at::Tensor>> out{outputs};
  communicate("comparing the ranks' fits", [&](c10d::Backend& backend) {
    std::vector<at::Tensor> in{t};
    return backend.allgather(out, in);
  });
  return at::stack(out[0]);
}

void Collective::broadcast(at::Tensor& t) {
  communicate("taking rank 0's parameters", [&](c10d::Backend& backend) {
    std::vector<at::Tensor> tensors{t};
    return backend.broadcast(tensors);
  });
}

double Collective::seconds() const { return seconds_; }

namespace {

/** Reads ProcessGroupGloo's protected members where this build's declaration puts them. */
struct GlooMembers : c10d::ProcessGroupGloo {
  static size_t contexts(const c10d::ProcessGroupGloo& pg) { return (pg.*(&GlooMembers::contexts_)).size(); }
  static size_t threads(const c10d::ProcessGroupGloo& pg) { return (pg.*(&GlooMembers::threads_)).size(); }
  static bool status(const c10d::ProcessGroupGloo& pg) { return (pg.*(&GlooMembers::pgStatus_)) != nullptr; }
};

}  // namespace

std::string gloo_layout_problem() {
  constexpr size_t kSize = sizeof(c10d::ProcessGroupGloo), kSlack = 512;
  constexpr unsigned char kCanary = 0xA5;
  constexpr int kThreads = 3;  // unlike the default (2), so that a member read from the wrong place shows
  static_assert(alignof(c10d::ProcessGroupGloo) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
  std::unique_ptr<unsigned char[]> buffer(new unsigned char[kSize + kSlack]);
  std::memset(buffer.get(), kCanary, kSize + kSlack);
  auto store = c10::make_intrusive<c10d::HashStore>();
  auto options = gloo_options("127.0.0.1", milliseconds(10000), kThreads);
  auto* pg = new (buffer.get()) c10d::ProcessGroupGloo(store, 0, 1, options);
  const auto problem = [&]() -> std::string {
    for (size_t i = kSize; i < kSize + kSlack; ++i)
      if (buffer[i] != kCanary)
        return "libtorch's ProcessGroupGloo constructor wrote at byte " + std::to_string(i) +
               ", past the size this build declares (" + std::to_string(kSize) + ")";
    // Pointers and sizes are compared before anything read at a declared offset is dereferenced.
    if (pg->getOptions().get() != options.get() || pg->getBackendOptions().get() != options.get())
      return "the options are not where this build declares them";
    if (GlooMembers::threads(*pg) != kThreads || pg->getNumThreads() != kThreads)
      return "the worker threads are not where this build declares them";
    if (GlooMembers::contexts(*pg) != 1 || !GlooMembers::status(*pg))
      return "the contexts or the status are not where this build declares them";
    if (pg->getRank() != 0 || pg->getSize() != 1) return "the rank and size are not where this build declares them";
    // The library wraps the store in its GlooStore (a static_cast: no gloo type information in the addon).
    const auto* wrapper = static_cast<const c10d::ProcessGroupGloo::GlooStore*>(pg->_getStore().get());
    if (!wrapper || wrapper->_getStore().get() != store.get())
      return "the store wrapper does not hold the store where this build declares it";
    return "";
  }();
  pg->~ProcessGroupGloo();
  return problem;
}

}  // namespace nc
