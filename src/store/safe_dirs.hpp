// Folders inside a cache are entered without following symlinks. Caches are shared (CI cache
// restores, BuildKit cache mounts, a team's HF_HOME on NFS), so a folder may have been replaced
// by a link (models--x/blobs -> /home/you): modelbake must never write or delete through one.
// The only legitimate links in a cache are leaves: snapshots/<commit>/<path> -> ../../blobs/<etag>.
//
// Checks are lstat-based, component by component below the cache root (the root itself may be
// a link: users move their HF cache that way). They stop a planted link; they do not claim to
// win a race against someone swapping folders while modelbake runs.
#pragma once

#include <string>
#include <string_view>

#include "core/error.hpp"

namespace mb {

enum class MissingDir { create, ok };

// Walks the folders of `rel` ("a/b/c", relative, no "..") under `base`: each one must be a
// real folder, never a symlink (integrity error naming the link and where it points). A
// missing component is created (0755) with MissingDir::create; with MissingDir::ok the walk
// stops there successfully (nothing below it exists to be followed).
Status check_real_dirs(const std::string& base, std::string_view rel, MissingDir missing);

// The error for a planted link at `path` (used by the checks above and by gc/rm reports).
Error planted_link_error(const std::string& path);

}  // namespace mb
