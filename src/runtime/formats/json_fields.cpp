#include "runtime/formats/json_fields.hpp"

#include <algorithm>

namespace mb::infer {

using nlohmann::json;

namespace {

Error field_error(const std::string& file, const char* key, const char* want, const json& got) {
  return make_error(ErrorCategory::integrity,
                    file + ": \"" + key + "\" must be " + want + ", not " + describe_json(got),
                    "the model's " + file + " is malformed; fetch the model again");
}

}  // namespace

int json_depth(std::string_view text) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

json parse_json(std::string_view text) {
  if (json_depth(text) > k_max_json_depth) return json(json::value_t::discarded);
  return json::parse(text.begin(), text.end(), nullptr, false);
}

Result<json> parse_model_json(std::string_view text, const std::string& file) {
  if (json_depth(text) > k_max_json_depth)
    return fail(ErrorCategory::integrity,
                file + ": JSON nested deeper than " + std::to_string(k_max_json_depth) + " levels",
                "no model file nests this deep; the file is malformed or hostile");
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded())
    return fail(ErrorCategory::integrity, file + " is not valid JSON",
                "the file is corrupt; fetch the model again");
  return j;
}

const json* find_field(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

Result<bool> bool_field(const json& j, const char* key, bool fallback, const std::string& file) {
  const json* v = find_field(j, key);
  if (v == nullptr) return fallback;
  if (!v->is_boolean()) return field_error(file, key, "true or false", *v);
  return v->get<bool>();
}

Result<std::string> string_field(const json& j, const char* key, const std::string& fallback,
                                 const std::string& file) {
  const json* v = find_field(j, key);
  if (v == nullptr) return fallback;
  if (!v->is_string()) return field_error(file, key, "a string", *v);
  return v->get<std::string>();
}

std::string describe_json(const json& j) {
  switch (j.type()) {
    case json::value_t::string: {
      const auto& s = j.get_ref<const std::string&>();
      return s.size() <= 60 ? "\"" + s + "\"" : "\"" + s.substr(0, 60) + "...\"";
    }
    case json::value_t::boolean: return j.get<bool>() ? "true" : "false";
    case json::value_t::number_integer: return std::to_string(j.get<int64_t>());
    case json::value_t::number_unsigned: return std::to_string(j.get<uint64_t>());
    case json::value_t::number_float: return "a number";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    case json::value_t::null: return "null";
    default: return "an invalid value";
  }
}

}  // namespace mb::infer
