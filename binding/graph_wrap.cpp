#include "graph_wrap.h"

#include "common.h"
#include "mlp_wrap.h"
#include "tensor_wrap.h"

namespace ncb {
namespace {

std::vector<int> ints(const Napi::Object& o, const char* key) {
  std::vector<int> out;
  Napi::Value v = o.Get(key);
  if (!v.IsArray()) return out;
  auto arr = v.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); ++i) out.push_back(arr.Get(i).As<Napi::Number>().Int32Value());
  return out;
}

std::vector<bool> bools(const Napi::Object& o, const char* key) {
  std::vector<bool> out;
  Napi::Value v = o.Get(key);
  if (!v.IsArray()) return out;
  auto arr = v.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); ++i) out.push_back(arr.Get(i).ToBoolean().Value());
  return out;
}

double number(const Napi::Object& o, const char* key, double fallback = 0) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : fallback;
}

const std::unordered_map<std::string, nc::NodeKind> kStructural = {
    {"arg", nc::NodeKind::Arg},     {"input", nc::NodeKind::Input}, {"param", nc::NodeKind::Param},
    {"const", nc::NodeKind::Const}, {"if", nc::NodeKind::If},       {"loop", nc::NodeKind::Loop},
    {"call", nc::NodeKind::Call},   {"proj", nc::NodeKind::Proj},   {"extern", nc::NodeKind::Extern},
    {"fused", nc::NodeKind::Fused},
};

/** A fused node's step list: [{op, args, attrs}], args indexing [node args..., earlier steps...]. */
std::shared_ptr<const nc::FusedProgram> read_fused(const Napi::Object& o, int num_inputs) {
  auto program = std::make_shared<nc::FusedProgram>();
  program->num_inputs = num_inputs;
  auto steps = o.Get("steps").As<Napi::Array>();
  for (uint32_t i = 0; i < steps.Length(); ++i) {
    auto step = steps.Get(i).As<Napi::Object>();
    program->steps.push_back(nc::fused_step(step.Get("op").As<Napi::String>().Utf8Value(), ints(step, "args"),
                                            doubles_arg(step.Get("attrs"))));
  }
  return program;
}

nc::Node read_node(const Napi::Object& o, const at::TensorOptions& options) {
  nc::Node n;
  const std::string op = o.Get("op").As<Napi::String>().Utf8Value();
  n.args = ints(o, "args");
  n.attrs = doubles_arg(o.Get("attrs"));
  n.regions = ints(o, "regions");
  n.arg_batched = bools(o, "argBatched");
  n.output_batched = bools(o, "outputBatched");
  n.index = static_cast<int>(number(o, "index"));
  n.outputs = static_cast<int>(number(o, "outputs", 1));
  n.limit = static_cast<int64_t>(number(o, "limit"));
  n.state = static_cast<int>(number(o, "state"));
  n.batched = o.Get("batched").ToBoolean().Value();
  if (o.Get("label").IsString()) n.label = o.Get("label").As<Napi::String>().Utf8Value();
  auto it = kStructural.find(op);
  if (it == kStructural.end()) {
    n.kind = nc::NodeKind::Kernel;
    n.kernel = &nc::find_kernel(op, n.args.size(), n.attrs.size());
  } else {
    n.kind = it->second;
  }
  if (n.kind == nc::NodeKind::Const) {
    auto data = o.Get("data").As<Napi::Float64Array>();
    std::vector<int64_t> shape;
    for (int d : ints(o, "shape")) shape.push_back(d);
    n.value = nc::from_host(data.Data(), c10::kDouble, shape, options.dtype().toScalarType(), options.device());
  }
  if (n.kind == nc::NodeKind::Fused) n.fused = read_fused(o, static_cast<int>(n.args.size()));
  return n;
}

nc::GraphSpec read_spec(const Napi::Object& spec, const at::TensorOptions& options) {
  nc::GraphSpec g;
  g.num_inputs = static_cast<int>(number(spec, "numInputs"));
  g.recursive = spec.Get("recursive").ToBoolean().Value();
  g.max_steps = static_cast<int64_t>(number(spec, "maxSteps"));
  auto regions = spec.Get("regions").As<Napi::Array>();
  for (uint32_t r = 0; r < regions.Length(); ++r) {
    auto ro = regions.Get(r).As<Napi::Object>();
    nc::Region region;
    auto nodes = ro.Get("nodes").As<Napi::Array>();
    for (uint32_t i = 0; i < nodes.Length(); ++i)
      region.nodes.push_back(read_node(nodes.Get(i).As<Napi::Object>(), options));
    region.results = ints(ro, "results");
    region.result_batched = bools(ro, "resultBatched");
    g.regions.push_back(std::move(region));
  }
  return g;
}

}  // namespace

Napi::Function NativeGraph::Define(Napi::Env env) {
  return DefineClass(
      env, "NativeGraph",
      {InstanceMethod<&NativeGraph::Forward>("forward"), InstanceMethod<&NativeGraph::Dispose>("dispose")});
}

NativeGraph::NativeGraph(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeGraph>(info) {
  Napi::Env env = info.Env();
  guard(env, [&] {
    auto options = at::TensorOptions()
                       .dtype(nc::parse_dtype(string_arg(info, 2, "dtype")))
                       .device(nc::parse_device(string_arg(info, 3, "device")));
    nc::GraphSpec spec = read_spec(info[0].As<Napi::Object>(), options);
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

Napi::Value NativeGraph::Dispose(const Napi::CallbackInfo& info) {
  module_.reset();
  return info.Env().Undefined();
}

}  // namespace ncb
