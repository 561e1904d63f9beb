{
  "targets": [
    {
      "target_name": "tree_sitter_neural_binding",
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "defines": ["NAPI_VERSION=8"],
      "include_dirs": ["src"],
      "sources": ["bindings/node/binding.cc", "src/parser.c", "src/scanner.c"],
      "cflags_c": ["-std=c11"]
    }
  ]
}
