// A Hugging Face repository's type, shared by the lock, the hub client and the cache layout.
#pragma once

#include <optional>
#include <string_view>

namespace mb {

enum class RepoType { model, dataset };

inline const char* to_string(RepoType t) { return t == RepoType::dataset ? "dataset" : "model"; }

// "model" or "dataset"; nullopt for anything else (callers word their own error).
inline std::optional<RepoType> parse_repo_type(std::string_view s) {
  if (s == "model") return RepoType::model;
  if (s == "dataset") return RepoType::dataset;
  return std::nullopt;
}

}  // namespace mb
