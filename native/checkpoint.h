// Checkpointed backward through a loop: the forward run records no autograd tape and keeps only the
// loop state at segment starts; backward recomputes each segment from its saved start, recorded,
// and differentiates it (last segment first). Memory: the checkpoints plus one segment's tape,
// instead of every iteration's tape. Plain C++ on libtorch; the executor (graph.cpp) supplies the
// loop body as callables and knows nothing of segments.
#pragma once
#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace nc {

/** A loop's `checkpoint` setting as the compiler writes it: off, or this many iterations a segment. */
constexpr int64_t kCheckpointOff = 0;
/** Segments that start at 1 iteration and double when the checkpoints outnumber twice their length. */
constexpr int64_t kCheckpointDoubling = -1;

/**
 * One iteration of the loop body: [state..., context...] -> [done, result, next state...]. The
 * context is every other tensor the body may read (the loop's captures, the program's inputs and
 * parameters), passed so that backward can substitute its own leaves for them.
 */
using LoopIteration = std::function<std::vector<at::Tensor>(const std::vector<at::Tensor>& state,
                                                            const std::vector<at::Tensor>& context)>;

struct CheckpointedLoop {
  /** The iteration as the forward run takes it: counts against the loop's limit and the run's budget. */
  LoopIteration forward;
  /** The same iteration outside the run (the executor is gone by backward), for the recomputation. */
  std::shared_ptr<const LoopIteration> replay;
  /** Iterations per segment, or kCheckpointDoubling. */
  int64_t segment = kCheckpointDoubling;
  /** The loop's label, named by errors during the recomputation. */
  std::string label;
};

/**
 * Runs the loop forward without recording and returns its result, whose autograd node recomputes
 * the segments. The state carries the batch dimension when the loop is batched: every sample must
 * then leave at the same iteration; when they do not, returns nothing (the caller runs the loop
 * recorded). The result and its gradient equal the recorded run's.
 */
std::optional<at::Tensor> run_checkpointed(const CheckpointedLoop& loop, const std::vector<at::Tensor>& state,
                                           const std::vector<at::Tensor>& context);

}  // namespace nc
