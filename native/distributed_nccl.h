// ProcessGroupNCCL for distributed.cpp, defined in distributed_nccl.cpp, which CMakeLists.txt compiles
// only in builds with NCCL (NC_WITH_NCCL): no other file includes NCCL's headers.
#pragma once
#include <chrono>
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

namespace nc {

/**
 * One rank's ProcessGroupNCCL on the rendezvous' store (its communicator is made at the first
 * collective, on the device of that collective's tensors). Its watchdog gives up on a collective
 * after `timeout`; a collective's wait must pass the same timeout to block the CPU until it ends
 * (without one, NCCL's wait only orders the CUDA streams).
 */
c10::intrusive_ptr<c10d::Backend> nccl_backend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                               std::chrono::milliseconds timeout);

}  // namespace nc
