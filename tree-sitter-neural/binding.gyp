{
  "variables": {
    "ts_runtime%": "<!(node bindings/node/runtime.js)"
  },
  "targets": [
    {
      "target_name": "tree_sitter_neural_binding",
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except", "tree_sitter_runtime"],
      "defines": ["NAPI_VERSION=8", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "include_dirs": ["src", "<(ts_runtime)/include"],
      "sources": ["bindings/node/binding.cc", "src/parser.c", "src/scanner.c"],
      "cflags_c": ["-std=c11"],
      "cflags_cc": ["-std=c++17", "-fvisibility=hidden"]
    },
    {
      "target_name": "tree_sitter_runtime",
      "type": "static_library",
      "sources": ["bindings/node/runtime.c"],
      "include_dirs": ["<(ts_runtime)/src", "<(ts_runtime)/include"],
      "defines": ["_POSIX_C_SOURCE=200112L", "_DEFAULT_SOURCE"],
      "cflags_c": ["-std=c11", "-fvisibility=hidden"]
    }
  ]
}
