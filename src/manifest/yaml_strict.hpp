// A pass over the YAML event stream of a manifest before any node tree is built, refusing
// what a manifest never needs and an attacker can abuse:
//  - aliases (`*name`): a few hundred bytes of nested aliases expand to gigabytes once the
//    tree is walked (the "billion laughs" bomb); yaml-cpp shares aliased nodes, so the cost
//    only shows up later, in our walk and in the lock we would write;
//  - duplicate keys in a mapping (yaml-cpp keeps the first silently; other tools the last);
//  - keys that are not plain scalars, nesting deeper than k_max_yaml_depth, and a second
//    document (YAML::Load would ignore it silently).
// The events cost memory proportional to the text, never to its expansion.
#pragma once

#include <yaml-cpp/mark.h>

#include <optional>
#include <string>
#include <string_view>

namespace mb {

inline constexpr int k_max_yaml_depth = 64;

struct YamlProblem {
  YAML::Mark mark;
  std::string message;
};

// The first problem in `text`, or nullopt. Syntax errors throw YAML::Exception like
// YAML::Load does (the caller turns them into an Error).
std::optional<YamlProblem> find_yaml_problem(std::string_view text);

}  // namespace mb
