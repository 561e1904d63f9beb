// Node-API module exposing the neural grammar as a language object the `tree-sitter` runtime accepts.
#include <napi.h>

typedef struct TSLanguage TSLanguage;
extern "C" TSLanguage *tree_sitter_neural();

// The runtime only accepts externals carrying this tag (its value is fixed by node-tree-sitter).
static const napi_type_tag kLanguageTypeTag = {0x8AF2E5212AD58ABF, 0xD5006CAD83ABBA16};

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto language = Napi::External<TSLanguage>::New(env, tree_sitter_neural());
  language.TypeTag(&kLanguageTypeTag);
  exports["name"] = Napi::String::New(env, "neural");
  exports["language"] = language;
  return exports;
}

NODE_API_MODULE(tree_sitter_neural_binding, Init)
