// Node-API module for the neural grammar. Two uses:
//  - `language`: the grammar as a language object the `tree-sitter` npm runtime accepts (editors, queries);
//  - `parse(text)`: the whole parse in one call. The tree-sitter C runtime is compiled into this module
//    (binding.gyp), the text is parsed as UTF-16 and the syntax tree comes back as one flat Uint32Array,
//    kNodeWords (4) words per node in preorder (see DESIGN.md, "The flat tree"), so reading the tree costs no
//    further crossings of the JS boundary. `sexp(text)` is the runtime's own S-expression of the tree.
#include <napi.h>
#include <tree_sitter/api.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern "C" const TSLanguage *tree_sitter_neural();

namespace {

// The runtime only accepts externals carrying this tag (its value is fixed by node-tree-sitter).
const napi_type_tag kLanguageTypeTag = {0x8AF2E5212AD58ABF, 0xD5006CAD83ABBA16};

// Layout of one node (keep in step with src/frontend/parser.ts):
//   word 0: type id (bits 0-15) | field id (bits 16-23, 0 = none) | flags (bits 24-31)
//   word 1, 2: start and end offsets in UTF-16 code units
//   word 3: index of the node after this node's subtree (preorder), so children are i+1 .. word3-1
constexpr uint32_t kNodeWords = 4;
constexpr uint32_t kFlagNamed = 1u << 24;
constexpr uint32_t kFlagMissing = 1u << 25;
constexpr uint32_t kFlagExtra = 1u << 26;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
constexpr TSInputEncoding kUtf16 = TSInputEncodingUTF16BE;
#else
constexpr TSInputEncoding kUtf16 = TSInputEncodingUTF16LE;
#endif

// One parser and scratch buffers per thread (worker threads may load the module too).
struct ThreadState {
  TSParser *parser = nullptr;
  std::u16string text;
  std::vector<uint32_t> nodes;
  std::vector<uint32_t> open;  // indices of the nodes whose subtree is being walked
  ~ThreadState() {
    if (parser) ts_parser_delete(parser);
  }
};
thread_local ThreadState state;

TSParser *parser(Napi::Env env) {
  if (!state.parser) {
    TSParser *p = ts_parser_new();
    if (!ts_parser_set_language(p, tree_sitter_neural())) {
      ts_parser_delete(p);
      throw Napi::Error::New(env, "tree-sitter-neural: the grammar's ABI is not supported by the compiled tree-sitter runtime");
    }
    state.parser = p;
  }
  return state.parser;
}

/** The JS string argument, as UTF-16 in `state.text`; the tree of it. Caller deletes the tree. */
TSTree *parseArgument(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "parse: expected a string");
  size_t length = 0;
  napi_status status = napi_get_value_string_utf16(env, info[0], nullptr, 0, &length);
  if (status != napi_ok) throw Napi::Error::New(env, "parse: cannot read the string");
  if (length > UINT32_MAX / 4) throw Napi::RangeError::New(env, "parse: text too long");
  state.text.resize(length + 1);  // room for the terminating NUL napi writes
  status = napi_get_value_string_utf16(env, info[0], &state.text[0], length + 1, &length);
  if (status != napi_ok) throw Napi::Error::New(env, "parse: cannot read the string");
  TSTree *tree = ts_parser_parse_string_encoding(parser(env), nullptr, reinterpret_cast<const char *>(state.text.data()),
                                                 static_cast<uint32_t>(length * 2), kUtf16);
  if (!tree) throw Napi::Error::New(env, "parse: tree-sitter returned no tree");
  return tree;
}

/** Preorder walk with the cursor (iterative: any depth of nesting is safe). */
void flatten(TSNode root, std::vector<uint32_t> &out) {
  const uint32_t errorType = ts_language_symbol_count(tree_sitter_neural());
  out.clear();
  state.open.clear();
  TSTreeCursor cursor = ts_tree_cursor_new(root);
  for (;;) {
    TSNode node = ts_tree_cursor_current_node(&cursor);
    const TSSymbol symbol = ts_node_symbol(node);
    uint32_t word = symbol == static_cast<TSSymbol>(-1) ? errorType : symbol;
    word |= static_cast<uint32_t>(ts_tree_cursor_current_field_id(&cursor) & 0xFF) << 16;
    if (ts_node_is_named(node)) word |= kFlagNamed;
    if (ts_node_is_missing(node)) word |= kFlagMissing;
    if (ts_node_is_extra(node)) word |= kFlagExtra;
    const uint32_t index = static_cast<uint32_t>(out.size() / kNodeWords);
    out.push_back(word);
    out.push_back(ts_node_start_byte(node) / 2);
    out.push_back(ts_node_end_byte(node) / 2);
    out.push_back(0);
    if (ts_tree_cursor_goto_first_child(&cursor)) {
      state.open.push_back(index);
      continue;
    }
    out[index * kNodeWords + 3] = index + 1;
    while (!ts_tree_cursor_goto_next_sibling(&cursor)) {
      if (!ts_tree_cursor_goto_parent(&cursor)) {
        ts_tree_cursor_delete(&cursor);
        return;
      }
      const uint32_t parent = state.open.back();
      state.open.pop_back();
      out[parent * kNodeWords + 3] = static_cast<uint32_t>(out.size() / kNodeWords);
    }
  }
}

Napi::Value Parse(const Napi::CallbackInfo &info) {
  TSTree *tree = parseArgument(info);
  flatten(ts_tree_root_node(tree), state.nodes);
  ts_tree_delete(tree);
  const size_t words = state.nodes.size();
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(info.Env(), words * sizeof(uint32_t));
  std::memcpy(buffer.Data(), state.nodes.data(), words * sizeof(uint32_t));
  // Keep the scratch buffers for the next parse unless they are large (a 1 MB program).
  if (state.nodes.capacity() > (1u << 20)) std::vector<uint32_t>().swap(state.nodes);
  if (state.text.capacity() > (1u << 20)) std::u16string().swap(state.text);
  return Napi::Uint32Array::New(info.Env(), words, buffer, 0);
}

// ts_node_string recurses once per level of the tree: refuse trees deep enough to risk the stack.
constexpr uint32_t kSexpMaxDepth = 2000;

uint32_t treeDepth(TSNode root) {
  TSTreeCursor cursor = ts_tree_cursor_new(root);
  uint32_t depth = 0, deepest = 0;
  for (;;) {
    if (ts_tree_cursor_goto_first_child(&cursor)) {
      if (++depth > deepest) deepest = depth;
      continue;
    }
    while (!ts_tree_cursor_goto_next_sibling(&cursor)) {
      if (!ts_tree_cursor_goto_parent(&cursor)) {
        ts_tree_cursor_delete(&cursor);
        return deepest;
      }
      depth--;
    }
  }
}

Napi::Value Sexp(const Napi::CallbackInfo &info) {
  TSTree *tree = parseArgument(info);
  if (treeDepth(ts_tree_root_node(tree)) > kSexpMaxDepth) {
    ts_tree_delete(tree);
    throw Napi::RangeError::New(info.Env(), "sexp: the tree is nested more than 2000 levels deep");
  }
  char *text = ts_node_string(ts_tree_root_node(tree));
  ts_tree_delete(tree);
  Napi::String result = Napi::String::New(info.Env(), text);
  std::free(text);
  return result;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  const TSLanguage *lang = tree_sitter_neural();
  auto language = Napi::External<TSLanguage>::New(env, const_cast<TSLanguage *>(lang));
  language.TypeTag(&kLanguageTypeTag);
  exports["name"] = Napi::String::New(env, "neural");
  exports["language"] = language;

  // Type names by type id (the last is ERROR) and field names by field id (0 is none).
  const uint32_t symbols = ts_language_symbol_count(lang);
  Napi::Array types = Napi::Array::New(env, symbols + 1);
  for (uint32_t i = 0; i < symbols; i++) types[i] = Napi::String::New(env, ts_language_symbol_name(lang, static_cast<TSSymbol>(i)));
  types[symbols] = Napi::String::New(env, "ERROR");
  const uint32_t fieldCount = ts_language_field_count(lang);
  Napi::Array fields = Napi::Array::New(env, fieldCount + 1);
  fields[0u] = Napi::String::New(env, "");
  for (uint32_t i = 1; i <= fieldCount; i++) fields[i] = Napi::String::New(env, ts_language_field_name_for_id(lang, static_cast<TSFieldId>(i)));
  exports["types"] = types;
  exports["fields"] = fields;
  exports["nodeWords"] = Napi::Number::New(env, kNodeWords);
  exports["parse"] = Napi::Function::New(env, Parse, "parse");
  exports["sexp"] = Napi::Function::New(env, Sexp, "sexp");
  return exports;
}

}  // namespace

NODE_API_MODULE(tree_sitter_neural_binding, Init)
