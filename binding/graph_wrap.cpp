#include "graph_wrap.h"

#include "checkpoint.h"
#include "common.h"
#include "mlp_wrap.h"
#include "spec_reader.h"
#include "tensor_wrap.h"

namespace ncb {
namespace {

const std::unordered_map<std::string, nc::NodeKind> kStructural = {
    {"arg", nc::NodeKind::Arg},     {"input", nc::NodeKind::Input}, {"param", nc::NodeKind::Param},
    {"const", nc::NodeKind::Const}, {"if", nc::NodeKind::If},       {"loop", nc::NodeKind::Loop},
    {"call", nc::NodeKind::Call},   {"proj", nc::NodeKind::Proj},   {"extern", nc::NodeKind::Extern},
    {"fused", nc::NodeKind::Fused},
};

/** A fused node's step list: [{op, args, attrs}], args indexing [node args..., earlier steps...]. */
std::shared_ptr<const nc::FusedProgram> read_fused(const SpecReader& in, const Napi::Object& o, int num_inputs) {
  auto program = std::make_shared<nc::FusedProgram>();
  program->num_inputs = num_inputs;
  program->sum_backward_seen = nc::new_flag();
  Napi::Array steps = in.array(o, "steps");
  for (uint32_t i = 0; i < steps.Length(); ++i) {
    Napi::Object step = in.object(steps.Get(i), "steps");
    program->steps.push_back(nc::fused_step(in.string(step, "op"), in.ints(step, "args"), in.doubles(step, "attrs")));
  }
  return program;
}

nc::Node read_node(const SpecReader& in, const Napi::Object& o, const at::TensorOptions& options) {
  nc::Node n;
  const std::string op = in.string(o, "op");
  n.args = in.ints(o, "args");
  n.attrs = in.doubles(o, "attrs");
  n.batched = in.boolean(o, "batched");
  if (!o.Get("label").IsUndefined()) n.label = in.string(o, "label");
  auto it = kStructural.find(op);
  n.kind = it == kStructural.end() ? nc::NodeKind::Kernel : it->second;
  // Control nodes own sub-regions and say which arguments carry the batch dimension.
  if (n.kind == nc::NodeKind::If || n.kind == nc::NodeKind::Loop || n.kind == nc::NodeKind::Call) {
    n.regions = in.ints(o, "regions");
    n.arg_batched = in.bools(o, "argBatched");
  }
  switch (n.kind) {
    case nc::NodeKind::Kernel:
      n.kernel = &nc::find_kernel(op, n.args.size(), n.attrs.size());
      break;
    case nc::NodeKind::Arg:
    case nc::NodeKind::Input:
    case nc::NodeKind::Param:
    case nc::NodeKind::Proj:
      n.index = static_cast<int>(in.whole(o, "index"));
      break;
    case nc::NodeKind::Extern:
      n.index = static_cast<int>(in.whole(o, "index"));
      n.arg_batched = in.bools(o, "argBatched");
      break;
    case nc::NodeKind::If:
      n.outputs = static_cast<int>(in.whole(o, "outputs"));
      n.output_batched = in.bools(o, "outputBatched");
      break;
    case nc::NodeKind::Loop:
      n.state = static_cast<int>(in.whole(o, "state"));
      n.limit = in.whole(o, "limit");
      n.checkpoint = static_cast<int64_t>(in.number(o, "checkpoint"));
      if (n.checkpoint < nc::kCheckpointDoubling || static_cast<double>(n.checkpoint) != in.number(o, "checkpoint"))
        throw nc::Error("internal: graph spec: a loop's 'checkpoint' must be -1 (doubling), 0 (off) or a whole number");
      break;
    case nc::NodeKind::Call:
      n.limit = in.whole(o, "limit");
      break;
    case nc::NodeKind::Const: {
      Napi::Value data = in.field(o, "data");
      if (!data.IsTypedArray() || data.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
        throw nc::Error("internal: graph spec: a const node's 'data' must be a Float64Array");
      std::vector<int64_t> shape;
      for (int d : in.ints(o, "shape")) shape.push_back(d);
      auto values = data.As<Napi::Float64Array>();
      n.value = nc::from_host(values.Data(), c10::kDouble, shape, options.dtype().toScalarType(), options.device());
      break;
    }
    case nc::NodeKind::Fused:
      n.fused = read_fused(in, o, static_cast<int>(n.args.size()));
      break;
  }
  return n;
}

nc::GraphSpec read_spec(const Napi::Value& value, const at::TensorOptions& options) {
  const SpecReader top("graph spec, the graph");
  Napi::Object spec = top.object(value, "the spec");
  nc::GraphSpec g;
  g.num_inputs = static_cast<int>(top.whole(spec, "numInputs"));
  g.recursive = top.boolean(spec, "recursive");
  g.max_steps = top.whole(spec, "maxSteps");
  Napi::Array regions = top.array(spec, "regions");
  for (uint32_t r = 0; r < regions.Length(); ++r) {
    const SpecReader in("graph spec, region " + std::to_string(r));
    Napi::Object ro = in.object(regions.Get(r), "regions");
    nc::Region region;
    Napi::Array nodes = in.array(ro, "nodes");
    for (uint32_t i = 0; i < nodes.Length(); ++i) {
      const SpecReader node_in("graph spec, region " + std::to_string(r) + ", node " + std::to_string(i));
      region.nodes.push_back(read_node(node_in, node_in.object(nodes.Get(i), "the node"), options));
    }
    region.results = in.ints(ro, "results");
    region.result_batched = in.bools(ro, "resultBatched");
    g.regions.push_back(std::move(region));
  }
  return g;
}

/** A tensor of `shape` over a typed array of the dtype (no copy: the array outlives the call). */
at::Tensor borrowed(const Napi::Value& v, c10::ScalarType dtype, const nc::Shape& shape, const std::string& what) {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  void* data = dtype == c10::kDouble ? static_cast<void*>(typed_elements<double>(v, n, what))
                                     : static_cast<void*>(typed_elements<float>(v, n, what));
  return nc::borrow_host(data, dtype, shape);
}

/** Handles of the defined tensors, null for the others. */
Napi::Array handles(Napi::Env env, const std::vector<at::Tensor>& tensors) {
  Napi::Array out = Napi::Array::New(env, tensors.size());
  for (uint32_t k = 0; k < tensors.size(); ++k)
    out.Set(k, tensors[k].defined() ? NativeTensor::Wrap(env, tensors[k]) : env.Null());
  return out;
}

}  // namespace

Napi::Function NativeGraph::Define(Napi::Env env) {
  return DefineClass(env, "NativeGraph",
                     {InstanceMethod<&NativeGraph::Forward>("forward"),
                      InstanceMethod<&NativeGraph::ValueAndSumGrad>("valueAndSumGrad"),
                      InstanceMethod<&NativeGraph::Dispose>("dispose")});
}

NativeGraph::NativeGraph(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeGraph>(info) {
  Napi::Env env = info.Env();
  guard(env, [&] {
    auto options = at::TensorOptions()
                       .dtype(nc::parse_dtype(string_arg(info, 2, "dtype")))
                       .device(nc::parse_device(string_arg(info, 3, "device")));
    dtype_ = options.dtype().toScalarType();
    nc::GraphSpec spec = read_spec(info[0], options);
    if (info[4].IsArray()) {
      auto callables = info[4].As<Napi::Array>();
      for (uint32_t i = 0; i < callables.Length(); ++i) spec.callables.push_back(MlpOf(callables.Get(i)));
    }
    std::vector<std::pair<std::string, at::Tensor>> params;
    auto arr = info[1].As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      auto p = arr.Get(i).As<Napi::Object>();
      params.emplace_back(p.Get("name").As<Napi::String>().Utf8Value(), NativeTensor::TensorOf(p.Get("tensor")));
    }
    module_ = std::make_shared<nc::GraphModule>(std::move(spec), std::move(params));
  });
}

std::shared_ptr<nc::GraphModule> NativeGraph::ModuleOf(const Napi::Value& v) {
  if (!v.IsObject()) throw Napi::TypeError::New(v.Env(), "expected a compiled module's native graph");
  auto module = Napi::ObjectWrap<NativeGraph>::Unwrap(v.As<Napi::Object>())->module_;
  if (!module) throw Napi::Error::New(v.Env(), "this module has been disposed and cannot be used any more");
  return module;
}

Napi::Value NativeGraph::Forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    if (!module_) throw nc::Error("this module has been disposed and cannot be used any more");
    std::vector<at::Tensor> inputs;
    auto arr = info[0].As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); ++i) inputs.push_back(NativeTensor::TensorOf(arr.Get(i)));
    return NativeTensor::Wrap(env, module_->forward(inputs, info[1].ToBoolean().Value()));
  });
}

Napi::Value NativeGraph::ValueAndSumGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    if (!module_) throw nc::Error("this module has been disposed and cannot be used any more");
    if (!info[0].IsArray() || !info[1].IsArray() || !info[2].IsNumber() || !info[4].IsArray())
      throw Napi::TypeError::New(env, "valueAndSumGrad(inputs[], batched[], batch, out, wanted[])");
    const int64_t batch = info[2].As<Napi::Number>().Int64Value();
    if (batch < 1) throw Napi::RangeError::New(env, "valueAndSumGrad: the batch must be at least 1");
    auto values = info[0].As<Napi::Array>();
    auto batched = info[1].As<Napi::Array>();
    auto wanted_flags = info[4].As<Napi::Array>();
    if (batched.Length() != values.Length() || wanted_flags.Length() != values.Length())
      throw Napi::RangeError::New(env, "valueAndSumGrad: one batched flag and one wanted flag per input");
    std::vector<at::Tensor> inputs;
    std::vector<char> wanted;
    for (uint32_t i = 0; i < values.Length(); ++i) {
      const nc::Shape shape = batched.Get(i).ToBoolean().Value() ? nc::Shape{batch} : nc::Shape{};
      inputs.push_back(borrowed(values.Get(i), dtype_, shape, "valueAndSumGrad: an input"));
      wanted.push_back(wanted_flags.Get(i).ToBoolean().Value());
    }
    const at::Tensor out = borrowed(info[3], dtype_, {batch}, "valueAndSumGrad: out");
    const std::optional<nc::SumGradients> r = module_->value_and_sum_grad(inputs, wanted, out);
    if (!r) return env.Null();
    Napi::Object grads = Napi::Object::New(env);
    grads.Set("params", handles(env, r->params));
    grads.Set("inputs", handles(env, r->inputs));
    return grads;
  });
}

Napi::Value NativeGraph::Dispose(const Napi::CallbackInfo& info) {
  module_.reset();
  return info.Env().Undefined();
}

}  // namespace ncb
