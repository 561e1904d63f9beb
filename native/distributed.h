// The process group of a data-parallel fit: the ranks meet at a TCP rendezvous (c10d's TCPStore,
// served by rank 0) and sum their tensors with libtorch's ProcessGroupGloo (CPU tensors) or, in
// builds with NCCL, ProcessGroupNCCL (CUDA tensors, one device per rank). The c10d, gloo and NCCL
// declarations stay in distributed.cpp and distributed_nccl.cpp; this header is plain libtorch.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

namespace nc {

struct DistributedSpec {
  std::string host;  // rank 0's address, where its TCPStore listens
  int port = 0;
  int rank = 0;
  int world_size = 1;
  /** How long to wait for the other ranks: at the rendezvous and for each collective. */
  int64_t timeout_ms = 60000;
  /** NCCL on this CUDA device (the model's), else Gloo on the CPU. */
  bool nccl = false;
  int cuda_device = 0;
};

/** The NCCL version the loaded libtorch_cuda reports ("2.30.7"); empty in a build without NCCL. */
std::string nccl_version();

/**
 * One rank's connection to the others, made at its first use (on the fit's thread: the rendezvous
 * waits for every rank). Every collective throws nc::Error, saying which rank and what failed, when a
 * rank is gone or does not answer within the timeout. The ranks must call the collectives in the
 * same order with tensors of the same shapes.
 */
class Collective {
 public:
  /** With spec.nccl, throws nc::Error at once when the build has no NCCL or the device is not visible. */
  explicit Collective(DistributedSpec spec);
  ~Collective();
  Collective(const Collective&) = delete;
  Collective& operator=(const Collective&) = delete;

  const DistributedSpec& spec() const { return spec_; }
  /** Where the collectives' tensors live: the CPU for Gloo, the rank's CUDA device for NCCL. */
  c10::Device device() const;
  /** Sums a contiguous tensor on device() over the ranks, in place. */
  void allreduce_sum(at::Tensor& t);
  /** Every rank's copy of a contiguous tensor on device(), stacked in rank order: [world_size, ...]. */
  at::Tensor allgather(const at::Tensor& t);
  /** Rank 0's values of a contiguous tensor on device(), in place on every rank. */
  void broadcast(at::Tensor& t);
  /** Seconds spent in collectives so far (the rendezvous excluded). */
  double seconds() const;

 private:
  struct Group;
  Group& group();
  template <class F>
  void communicate(const char* what, F&& f);

  DistributedSpec spec_;
  std::mutex mutex_;
  std::unique_ptr<Group> group_;
  double seconds_ = 0;
};

/**
 * Whether ProcessGroupGloo as distributed.cpp declares it (the c10d headers with the gloo
 * declarations of native/gloo_declarations) matches the class the loaded libtorch was built with: a
 * one-rank group is constructed in a buffer of more than its declared size, and the library's
 * constructor must write nothing past it, and the library's accessors must find the members where
 * the declaration puts them. Empty when it matches, else what differs.
 */
std::string gloo_layout_problem();

}  // namespace nc
