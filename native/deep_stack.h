// Recursive programs nest one chain of C++ frames per call: they run on a thread whose stack is
// deep enough for any recursion the depth limit allows, whatever stack the caller's thread has.
#pragma once
#include <functional>

namespace nc {

/** Runs fn on a thread with a 1 GiB stack (reserved, committed only as used); its exception is rethrown here. */
void with_deep_stack(const std::function<void()>& fn);

}  // namespace nc
