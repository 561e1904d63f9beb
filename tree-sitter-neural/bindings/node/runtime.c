// The tree-sitter C runtime, compiled into the grammar's Node binding: its amalgamation `lib.c`,
// found through the include path that binding.gyp sets (bindings/node/runtime.js says where).
#include "lib.c"
