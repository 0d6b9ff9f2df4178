// Validation of paths that come from outside (servers, manifests, archives) before they
// touch the disk. Every such path is relative, uses '/' separators and stays inside its root.
#pragma once

#include <string>
#include <string_view>

#include "core/error.hpp"

namespace mb {

// Accepts "a/b/c.json". Rejects: empty, absolute, "." or ".." components, empty components
// ("a//b", trailing '/'), backslashes, NUL and other control characters, > 4096 bytes,
// components > 255 bytes. `what` names the source in the error ("file name from server").
Status validate_relative_path(std::string_view path, std::string_view what);

// A file path inside a hub repo (tree listings, lock entries, the files of a bundle, model
// folder names): validate_relative_path plus the names a repo must never materialise, the
// same ones huggingface_hub refuses to commit or download. Rejects a component that is
//  - `.git` (git metadata: a planted .git/config runs core.fsmonitor on `git status`), also
//    as git itself matches it on case-insensitive or NTFS file systems: any case, trailing
//    dots/spaces, an `:stream` suffix, and the short name `git~1`;
//  - `.cache` (huggingface_hub's FORBIDDEN_FOLDERS; it keeps local_dir metadata there);
//  - a Windows drive prefix (`C:x`), which huggingface_hub refuses on every platform.
// The one rule for hub listing, lock parsing and bundle import. Errors are
// ErrorCategory::permanent, like validate_relative_path's; callers re-categorise.
Status validate_repo_file_path(std::string_view path, std::string_view what);

// Joins root and a validated relative path.
std::string join_path(std::string_view root, std::string_view rel);
// `path` made absolute and lexically normal, without a trailing slash (unchanged if that fails);
// links are not followed.
std::string absolute_path(const std::string& path);

// Hub repo id: "name" or "namespace/name"; each part [A-Za-z0-9_.-]{1,96}, no "--" or "..",
// not starting/ending with '-' or '.'.
Status validate_repo_id(std::string_view repo_id);

// Branch/tag names used as refs/<revision>: like git refnames, may contain '/', no "..".
Status validate_revision(std::string_view revision);

}  // namespace mb
