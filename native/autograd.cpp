#include "autograd.h"

#include <ATen/ops/ones_like.h>
#include <ATen/ops/zeros_like.h>
#include <torch/csrc/autograd/autograd.h>

#include "errors.h"
#include "tape.h"

namespace nc {

std::vector<at::Tensor> grad(const at::Tensor& outputs, const std::vector<at::Tensor>& inputs,
                             const at::Tensor& grad_outputs, bool create_graph) {
  if (inputs.empty()) throw Error("grad: needs at least one input tensor");
  if (!outputs.requires_grad()) throw Error("grad: the outputs do not depend on any tensor that requires a gradient");
  for (const auto& x : inputs)
    if (!x.requires_grad()) throw Error("grad: every input must require a gradient");
  at::Tensor seed = grad_outputs.defined() ? grad_outputs : at::ones_like(outputs);
  if (!seed.sizes().equals(outputs.sizes())) throw Error("grad: gradOutputs must have the shape of the outputs");
  auto out =
      torch::autograd::grad({outputs}, inputs, {seed}, /*retain_graph=*/true, create_graph, /*allow_unused=*/true);
  for (size_t i = 0; i < out.size(); ++i)
    if (!out[i].defined()) out[i] = at::zeros_like(inputs[i]);
  return out;
}

void backward(const at::Tensor& t, const at::Tensor& gradient) {
  if (!gradient.defined() && tape_backward(t)) return;
  t.backward(gradient);
}

}  // namespace nc
