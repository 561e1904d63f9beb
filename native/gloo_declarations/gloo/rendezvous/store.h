#pragma once
// The base of ProcessGroupGloo::GlooStore, which only libtorch constructs: its pure virtuals as far
// as GlooStore's overrides need them (GLOO_STORE_HAS_STORE_V2 stays undefined). See ../../README.md.
#include <chrono>
#include <string>
#include <vector>

namespace gloo {
namespace rendezvous {
class Store {
 public:
  virtual ~Store() = default;
  virtual void set(const std::string& key, const std::vector<char>& data) = 0;
  virtual std::vector<char> get(const std::string& key) = 0;
  virtual void wait(const std::vector<std::string>& keys) = 0;
  virtual void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) = 0;
};
}  // namespace rendezvous
}  // namespace gloo
