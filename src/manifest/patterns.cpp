#include "manifest/patterns.hpp"

namespace mb {

namespace {

// Matches a bracket expression starting at pattern[pi] == '['. Returns the index after ']' and
// sets `matched`; returns npos when the bracket is unterminated (then '[' is a literal).
size_t match_bracket(std::string_view pattern, size_t pi, char c, bool& matched) {
  size_t i = pi + 1;
  bool negate = i < pattern.size() && pattern[i] == '!';
  if (negate) ++i;
  bool found = false;
  bool first = true;
  while (i < pattern.size() && (pattern[i] != ']' || first)) {
    first = false;
    char lo = pattern[i];
    if (i + 2 < pattern.size() && pattern[i + 1] == '-' && pattern[i + 2] != ']') {
      char hi = pattern[i + 2];
      if (lo <= c && c <= hi) found = true;
      i += 3;
    } else {
      if (lo == c) found = true;
      ++i;
    }
  }
  if (i >= pattern.size()) return std::string_view::npos;
  matched = found != negate;
  return i + 1;
}

}  // namespace

bool pattern_match(std::string_view pattern, std::string_view path) {
  std::string owned;
  if (!pattern.empty() && pattern.back() == '/') {
    owned = std::string(pattern) + "*";
    pattern = owned;
  }
  // Iterative wildcard matching with single-star backtracking (linear in practice).
  size_t p = 0, s = 0;
  size_t star_p = std::string_view::npos, star_s = 0;
  while (s < path.size()) {
    if (p < pattern.size()) {
      char pc = pattern[p];
      if (pc == '*') {
        star_p = p++;
        star_s = s;
        continue;
      }
      if (pc == '?') {
        ++p;
        ++s;
        continue;
      }
      if (pc == '[') {
        bool matched = false;
        size_t next = match_bracket(pattern, p, path[s], matched);
        if (next == std::string_view::npos) {
          if (path[s] == '[') {
            ++p;
            ++s;
            continue;
          }
        } else if (matched) {
          p = next;
          ++s;
          continue;
        }
      } else if (pc == path[s]) {
        ++p;
        ++s;
        continue;
      }
    }
    if (star_p == std::string_view::npos) return false;
    p = star_p + 1;
    s = ++star_s;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool path_selected(const std::vector<std::string>& include, const std::vector<std::string>& exclude,
                   std::string_view path) {
  bool allowed = include.empty();
  for (const auto& pat : include) {
    if (pattern_match(pat, path)) {
      allowed = true;
      break;
    }
  }
  if (!allowed) return false;
  for (const auto& pat : exclude) {
    if (pattern_match(pat, path)) return false;
  }
  return true;
}

}  // namespace mb
