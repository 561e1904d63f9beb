#include "tape_wrap.h"

#include <c10/util/accumulate.h>

#include <string>

#include "common.h"
#include "spec_reader.h"
#include "tensor_wrap.h"

namespace ncb {
namespace {

/** The most inputs, and params, a tape takes (the compiler sends larger programs to libtorch). */
constexpr int kMaxOperands = 64;

/** Checks that a param is a contiguous CPU tensor of `elements` values of the module's dtype. */
void check_param(const at::Tensor& t, int64_t elements, bool dbl) {
  if (!t.device().is_cpu() || t.numel() != elements || !t.is_contiguous() ||
      t.scalar_type() != (dbl ? at::kDouble : at::kFloat))
    throw nc::Error("tape: params must be contiguous CPU tensors of the module's dtype, one element or their block's");
}

/** A program of the tier from its spec (src/compiler/tape.ts's TapeSpec), its loops' and functions' bodies included. */
void read_program(const SpecReader& in, const Napi::Object& spec, nc::TapeProgram& p) {
  p.num_inputs = static_cast<int>(in.whole(spec, "numInputs"));
  p.input_sizes = in.ints(spec, "inputSizes");
  p.num_params = static_cast<int>(in.whole(spec, "numParams"));
  p.consts = in.doubles(spec, "consts");
  const std::vector<int> code = in.ints(spec, "code");  // 4 per instruction: op, a, b, c (c + 1, b + 1: 0 is none)
  const std::vector<double> attrs = in.doubles(spec, "attrs");
  if (code.size() != attrs.size() * 4) throw nc::Error("internal: tape spec: 'code' must hold 4 per attribute");
  const std::vector<int> paths = in.ints(spec, "paths");  // one per instruction
  if (paths.size() != attrs.size()) throw nc::Error("internal: tape spec: 'paths' must hold one per instruction");
  for (size_t k = 0; k < attrs.size(); ++k)
    p.code.push_back({code[4 * k], code[4 * k + 1], code[4 * k + 2] - 1, code[4 * k + 3] - 1, attrs[k], paths[k]});
  p.results = in.ints(spec, "results");
  for (int n : in.ints(spec, "blockSizes")) p.block_sizes.push_back(n);
  // Per dense layer: weight block, bias block, input count, the input registers.
  const std::vector<int> dense = in.ints(spec, "dense");
  for (size_t at = 0; at < dense.size();) {
    if (at + 3 > dense.size() || at + 3 + dense[at + 2] > dense.size())
      throw nc::Error("internal: tape spec: 'dense' ends inside a layer");
    p.dense.push_back({dense[at], dense[at + 1], {dense.begin() + at + 3, dense.begin() + at + 3 + dense[at + 2]}});
    at += 3 + dense[at + 2];
  }
  // Per loop: its body (a spec of its own), its input registers, state and result element counts, limit and label.
  Napi::Array loops = in.array(spec, "loops");
  for (uint32_t i = 0; i < loops.Length(); ++i) {
    const Napi::Object loop = in.object(loops.Get(i), "a loop");
    auto body = std::make_shared<nc::TapeProgram>();
    read_program(in, in.object(in.field(loop, "body"), "a loop's body"), *body);
    nc::check_tape(*body);
    p.loops.push_back({body, in.ints(loop, "inputs"), static_cast<int>(in.whole(loop, "state")),
                       static_cast<int>(in.whole(loop, "outputs")), in.whole(loop, "limit"), in.string(loop, "label")});
  }
  // Per solve: A's and B's first registers, n, k and the label its error names.
  Napi::Array solves = in.array(spec, "solves");
  for (uint32_t i = 0; i < solves.Length(); ++i) {
    const Napi::Object solve = in.object(solves.Get(i), "a solve");
    const bool identity = in.number(solve, "b") < 0;  // B is the identity (inv)
    p.solves.push_back({static_cast<int>(in.whole(solve, "a")), identity ? -1 : static_cast<int>(in.whole(solve, "b")),
                        static_cast<int>(in.whole(solve, "n")), static_cast<int>(in.whole(solve, "k")),
                        in.string(solve, "label"), in.boolean(solve, "batched")});
  }
  // Per call: its function (an index into the root's functions), its argument registers, result elements, limit, label.
  Napi::Array calls = in.array(spec, "calls");
  for (uint32_t i = 0; i < calls.Length(); ++i) {
    const Napi::Object call = in.object(calls.Get(i), "a call");
    p.calls.push_back({static_cast<int>(in.whole(call, "function")), in.ints(call, "inputs"),
                       static_cast<int>(in.whole(call, "outputs")), in.whole(call, "limit"), in.string(call, "label")});
  }
  Napi::Array functions = in.array(spec, "functions");
  for (uint32_t i = 0; i < functions.Length(); ++i) {
    auto body = std::make_shared<nc::TapeProgram>();
    read_program(in, in.object(functions.Get(i), "a function's body"), *body);
    nc::check_tape(*body, functions.Length());
    p.functions.push_back(body);
  }
}

}  // namespace

Napi::Function NativeTape::Define(Napi::Env env) {
  return DefineClass(
      env, "NativeTape",
      {InstanceMethod<&NativeTape::Run>("run"), InstanceMethod<&NativeTape::Bind>("bind"),
       InstanceMethod<&NativeTape::RunBound>("runBound"), InstanceMethod<&NativeTape::Forward>("forward")});
}

NativeTape::NativeTape(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeTape>(info) {
  guard(info.Env(), [&] {
    const SpecReader in("tape spec");
    Napi::Object spec = in.object(info[0], "the spec");
    read_program(in, spec, *program_);
    batched_ = in.bools(spec, "batched");
    program_->input_ranks = in.ints(spec, "inputRanks");
    for (int d : in.ints(spec, "resultShape")) program_->result_shape.push_back(d);
    if (batched_.size() != program_->input_sizes.size() || program_->input_ranks.size() != batched_.size())
      throw nc::Error("internal: tape spec: 'batched' and 'inputRanks' must hold one entry per input");
    if (c10::multiply_integers(program_->result_shape) != static_cast<int64_t>(program_->results.size()))
      throw nc::Error("internal: tape spec: 'resultShape' does not hold its results");
    nc::check_tape(*program_);
    const std::string dtype = string_arg(info, 1, "dtype");
    if (dtype != "float64" && dtype != "float32") throw nc::Error("tape: dtype must be float32 or float64");
    double_ = dtype == "float64";
  });
}

void NativeTape::CheckIo() const {
  if (program_->input_sizes.size() > kMaxOperands || program_->num_params > kMaxOperands)
    throw nc::Error("internal: tape: run, bind and forward take at most 64 inputs and 64 params");
}

std::shared_ptr<const nc::TapeProgram> NativeTape::ProgramOf(const Napi::Value& v) {
  if (!v.IsObject()) throw Napi::TypeError::New(v.Env(), "expected a program of the small-program tier");
  return Napi::ObjectWrap<NativeTape>::Unwrap(v.As<Napi::Object>())->program_;
}

Napi::Value NativeTape::Run(const Napi::CallbackInfo& info) {
  guard(info.Env(), [&] { double_ ? RunTyped<double>(info) : RunTyped<float>(info); });
  return info.Env().Undefined();
}

template <class T>
void NativeTape::RunTyped(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckIo();
  const int n = static_cast<int>(program_->input_sizes.size());
  if (!bound_out_) throw nc::Error("tape: run() before bind()");
  if (!info[0].IsArray() || !info[3].IsArray())
    throw Napi::TypeError::New(env, "tape: run(inputs[], batch, out, inputGrads[])");
  if (!info[1].IsNumber()) throw Napi::TypeError::New(env, "tape: the batch must be a number");
  const int64_t batch = info[1].As<Napi::Number>().Int64Value();
  if (batch < 1) throw Napi::RangeError::New(env, "tape: the batch must be at least 1");
  auto inputs = info[0].As<Napi::Array>();
  auto input_grads = info[3].As<Napi::Array>();
  if (static_cast<int>(inputs.Length()) != n || static_cast<int>(input_grads.Length()) != n)
    throw Napi::RangeError::New(env, "tape: one value array and one gradient slot per input");
  T* input_ptr[kMaxOperands];
  T* grad_ptr[kMaxOperands];
  bool flags[kMaxOperands];
  T params[kMaxOperands];
  for (int i = 0; i < n; ++i) {
    flags[i] = batched_[i];
    const size_t count = program_->input_sizes[i] * (flags[i] ? static_cast<size_t>(batch) : 1);
    input_ptr[i] = typed_elements<T>(inputs.Get(i), count, "tape: an input");
    Napi::Value g = input_grads.Get(i);
    grad_ptr[i] = g.IsNull() || g.IsUndefined() ? nullptr : typed_elements<T>(g, count, "tape: an input gradient");
  }
  nc::TapeIo<T> io;
  io.inputs = input_ptr;
  io.batched = flags;
  io.params = BoundParams(params);
  io.blocks = BoundBlocks<T>();
  io.batch = batch;
  io.out = typed_elements<T>(info[2], static_cast<size_t>(batch) * program_->results.size(), "tape: out");
  io.input_grads = grad_ptr;
  io.param_grads = bound_param_grads_;
  nc::run_tape<T>(*program_, io);
}

Napi::Value NativeTape::Bind(const Napi::CallbackInfo& info) {
  guard(info.Env(), [&] {
    CheckIo();
    if (!info[0].IsArray() || !info[1].IsArray())
      throw Napi::TypeError::New(info.Env(), "tape: bind(inputs[], params[], out, paramGrads)");
    auto inputs = info[0].As<Napi::Array>();
    auto params = info[1].As<Napi::Array>();
    const size_t blocks = program_->block_sizes.size();
    if (inputs.Length() != program_->input_sizes.size() || params.Length() != program_->num_params + blocks)
      throw Napi::RangeError::New(info.Env(), "tape: bind takes one buffer per input and one tensor per param");
    bound_.clear();
    bound_inputs_.clear();
    bound_params_.clear();
    auto keep = [&](const Napi::Value& v) { bound_.push_back(Napi::Persistent(v.As<Napi::Object>())); };
    for (uint32_t i = 0; i < inputs.Length(); ++i) {
      bound_inputs_.push_back(Elements(inputs.Get(i), program_->input_sizes[i], "tape: an input"));
      keep(inputs.Get(i));
    }
    for (uint32_t k = 0; k < params.Length(); ++k) {
      bound_params_.push_back(NativeTensor::TensorOf(params.Get(k)));
      const int scalars = program_->num_params;
      check_param(bound_params_.back(), static_cast<int>(k) < scalars ? 1 : program_->block_sizes[k - scalars],
                  double_);
    }
    bound_blocks_.resize(program_->block_elements() * (double_ ? sizeof(double) : sizeof(float)));
    bound_out_ = Elements(info[2], program_->results.size(), "tape: out");
    keep(info[2]);
    bound_param_grads_ =
        typed_elements<double>(info[3], program_->num_params + program_->block_elements(), "tape: paramGrads");
    keep(info[3]);
    if (!info[4].IsArray() || info[4].As<Napi::Array>().Length() != inputs.Length())
      throw Napi::TypeError::New(info.Env(), "tape: bind's inputGrads must hold one buffer per input");
    auto grads = info[4].As<Napi::Array>();
    bound_input_grads_.clear();
    for (uint32_t i = 0; i < grads.Length(); ++i) {
      bound_input_grads_.push_back(Elements(grads.Get(i), program_->input_sizes[i], "tape: an input gradient"));
      keep(grads.Get(i));
    }
  });
  return info.Env().Undefined();
}

Napi::Value NativeTape::RunBound(const Napi::CallbackInfo& info) {
  guard(info.Env(), [&] {
    if (!bound_out_) throw nc::Error("tape: runBound() before bind()");
    // wanted: bit i asks for input i's gradient (a module has at most 64 inputs on the tier)
    const uint64_t wanted = info[0].IsBigInt()   ? info[0].As<Napi::BigInt>().Uint64Value(nullptr)
                            : info[0].IsNumber() ? static_cast<uint64_t>(info[0].As<Napi::Number>().DoubleValue())
                                                 : 0;
    double_ ? RunBoundTyped<double>(wanted) : RunBoundTyped<float>(wanted);
  });
  return info.Env().Undefined();
}

Napi::Value NativeTape::Forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    CheckIo();
    if (!info[0].IsArray()) throw Napi::TypeError::New(env, "tape: forward(inputs[], record)");
    auto arr = info[0].As<Napi::Array>();
    if (arr.Length() != program_->input_sizes.size())
      throw Napi::RangeError::New(env, "tape: forward takes one tensor per input");
    std::vector<at::Tensor> inputs;
    for (uint32_t i = 0; i < arr.Length(); ++i) inputs.push_back(NativeTensor::TensorOf(arr.Get(i)));
    return NativeTensor::Wrap(env, nc::tape_forward(program_, inputs, bound_params_, info[1].ToBoolean().Value()));
  });
}

template <class T>
void NativeTape::RunBoundTyped(uint64_t wanted) {
  const T* inputs[kMaxOperands];
  T* grads[kMaxOperands];
  T params[kMaxOperands];
  bool unbatched[kMaxOperands] = {};
  for (size_t i = 0; i < bound_inputs_.size(); ++i) {
    inputs[i] = static_cast<const T*>(bound_inputs_[i]);
    grads[i] = wanted >> i & 1 ? static_cast<T*>(bound_input_grads_[i]) : nullptr;
  }
  nc::TapeIo<T> io;
  io.input_grads = grads;
  io.inputs = inputs;
  io.batched = unbatched;
  io.params = BoundParams(params);
  io.blocks = BoundBlocks<T>();
  io.out = static_cast<T*>(bound_out_);
  io.param_grads = bound_param_grads_;
  nc::run_tape<T>(*program_, io);
}

void* NativeTape::Elements(const Napi::Value& v, size_t n, const char* what) const {
  return double_ ? static_cast<void*>(typed_elements<double>(v, n, what))
                 : static_cast<void*>(typed_elements<float>(v, n, what));
}

template <class T>
const T* NativeTape::BoundParams(T* values) const {
  const nc::TapeProgram& p = *program_;
  for (int k = 0; k < p.num_params; ++k) values[k] = *bound_params_[k].data_ptr<T>();
  std::fill(bound_param_grads_, bound_param_grads_ + p.num_params + p.block_elements(), 0.0);  // run_tape adds to them
  return values;
}

template <class T>
const T* NativeTape::BoundBlocks() {
  const nc::TapeProgram& p = *program_;
  T* out = reinterpret_cast<T*>(bound_blocks_.data());
  for (size_t k = 0; k < p.block_sizes.size(); ++k) {
    const T* v = bound_params_[p.num_params + k].data_ptr<T>();
    std::copy(v, v + p.block_sizes[k], out + p.block_offsets[k]);
  }
  return out;
}

}  // namespace ncb
