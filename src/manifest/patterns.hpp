// File selection with huggingface_hub's allow/ignore pattern semantics
// (utils/_paths.py::filter_repo_objects): fnmatch on the whole repo path, case-sensitive,
// '*' also matches '/', a pattern ending in '/' means everything below that folder.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mb {

// fnmatchcase: '*' any run (including '/'), '?' one character, '[abc]', '[a-z]', '[!abc]'.
bool pattern_match(std::string_view pattern, std::string_view path);

// Kept iff (include empty or some include matches) and no exclude matches.
bool path_selected(const std::vector<std::string>& include, const std::vector<std::string>& exclude,
                   std::string_view path);

}  // namespace mb
