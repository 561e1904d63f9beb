#include "deep_stack.h"

#include <pthread.h>

#include <exception>

#include "errors.h"

namespace nc {

void with_deep_stack(const std::function<void()>& fn) {
  struct Task {
    const std::function<void()>* fn;
    std::exception_ptr error;
  } task{&fn, nullptr};
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, size_t{1} << 30);  // reserved, committed only as used
  pthread_t thread;
  auto body = [](void* p) -> void* {
    auto* t = static_cast<Task*>(p);
    try {
      (*t->fn)();
    } catch (...) {
      t->error = std::current_exception();
    }
    return nullptr;
  };
  int rc = pthread_create(&thread, &attr, body, &task);
  pthread_attr_destroy(&attr);
  if (rc != 0) throw Error("could not start a thread for a recursive program");
  pthread_join(thread, nullptr);
  if (task.error) std::rethrow_exception(task.error);
}

}  // namespace nc
