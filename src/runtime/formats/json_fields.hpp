// Reading hostile JSON (config.json, tokenizer.json, the sentence-transformers files) with
// neither exceptions nor unbounded recursion. nlohmann's value() throws on a field of another
// type, which ended a whole modelbake-verify run as "internal error"; its parser is iterative,
// but copying, comparing and dumping a document recurse once per level, as do the tokenizer's
// Sequence readers, so a 50,000-level document overflowed the stack.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace mb::infer {

// Far deeper than any real model file (a tokenizer.json nests about 8 levels).
inline constexpr int k_max_json_depth = 64;

// Deepest nesting of arrays and objects in `text` (brackets inside strings do not count).
int json_depth(std::string_view text);

// json::parse(text, nullptr, false), but also a discarded value when `text` nests deeper
// than k_max_json_depth, so nothing downstream recurses on it.
nlohmann::json parse_json(std::string_view text);

// The same, with an integrity error naming `file` ("is not valid JSON", "nests deeper than
// 64 levels") instead of a discarded value.
Result<nlohmann::json> parse_model_json(std::string_view text, const std::string& file);

// Typed optional fields of an object: absent or null gives `fallback`, another type than
// asked an integrity error naming `file` and `key`. A `j` that is not an object has no fields.
Result<bool> bool_field(const nlohmann::json& j, const char* key, bool fallback,
                        const std::string& file);
Result<std::string> string_field(const nlohmann::json& j, const char* key,
                                 const std::string& fallback, const std::string& file);

// The field `key` of object `j` without copying it (a copy recurses); nullptr when absent,
// null, or `j` is not an object.
const nlohmann::json* find_field(const nlohmann::json& j, const char* key);

// A short, printable description of an attacker-controlled value for a message: strings
// up to 60 bytes quoted, anything else by its type ("an array"), never a dump of it.
std::string describe_json(const nlohmann::json& j);

}  // namespace mb::infer
