// Gradients of outputs with respect to arbitrary tensors (torch::autograd::grad), optionally
// recorded so that they can be differentiated again: what physics-informed losses need (du/dt
// inside a loss whose own gradient trains the network).
#pragma once
#include <ATen/core/Tensor.h>

#include <vector>

namespace nc {

/**
 * d(sum(outputs * grad_outputs)) / d(inputs). grad_outputs may be undefined (ones, for a scalar or
 * elementwise-independent outputs). An input the outputs do not depend on gets zeros. With
 * create_graph the results carry their own autograd graph.
 */
std::vector<at::Tensor> grad(const at::Tensor& outputs, const std::vector<at::Tensor>& inputs,
                             const at::Tensor& grad_outputs, bool create_graph);

/**
 * t.backward(gradient) (an undefined gradient: ones, for a one-element t). A tier result's graph
 * (or its sum's) over plain leaves skips libtorch's engine (tape_backward, native/tape.h).
 */
void backward(const at::Tensor& t, const at::Tensor& gradient);

}  // namespace nc
