// The JSON documents of the hub API, built from what the cache knows about a snapshot:
// path, etag and size per file. An LFS file (sha256 etag) gets the `lfs` block and, as on the
// hub, a top-level oid that is the git blob sha1 of its LFS pointer file.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "serve/catalog.hpp"

namespace mb::serve {

// The LFS pointer file's text, and its git blob sha1:
std::string lfs_pointer(const std::string& sha256, uint64_t size);
// git blob sha1 of "version https://git-lfs.github.com/spec/v1\noid sha256:<hex>\nsize <n>\n".
std::string lfs_pointer_oid(const std::string& sha256, uint64_t size);
size_t lfs_pointer_size(const std::string& sha256, uint64_t size);

// GET /api/{type}s/{repo}/revision/{rev}: sha, siblings (with blobs=true: size, blobId, lfs).
// `access` as recorded (Store::record_snapshot_access): "gated" and "private" set those flags.
nlohmann::ordered_json revision_json(const RepoId& id, const std::string& commit,
                                     const std::vector<Entry>& files, bool blobs,
                                     const std::string& access = "");

// Tree entries under `base` ("" = root): files and folders, sorted by path, folders derived
// from file paths. Empty optional when `base` is not a folder of the snapshot. With `expand`,
// each entry carries lastCommit = the snapshot's commit (the cache does not know the commit that
// last changed a file).
std::optional<std::vector<nlohmann::ordered_json>> tree_entries(const std::vector<Entry>& files,
                                                                const std::string& base,
                                                                bool recursive, bool expand,
                                                                const std::string& commit);

// POST paths-info: the entries (file or folder) named by `paths`, in snapshot order.
std::vector<nlohmann::ordered_json> paths_info(const std::vector<Entry>& files,
                                               const std::vector<std::string>& paths, bool expand,
                                               const std::string& commit);

// A paths-info body: JSON {"paths": [...], "expand": bool} or a form "paths=a&paths=b&expand=true"
// (huggingface_hub sends the form). False when it is neither.
bool parse_paths_body(const std::string& body, std::vector<std::string>& paths, bool& expand);

}  // namespace mb::serve
