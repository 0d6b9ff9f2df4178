// Image references as the user writes them: REGISTRY[:PORT]/REPO[:TAG][@sha256:DIGEST].
// The registry is always explicit (modelbake has no implicit Docker Hub), and the scheme is
// https unless --plain-http asks for http: a loopback registry gets no silent exception.
#pragma once

#include <string>
#include <string_view>

#include "core/error.hpp"

namespace mb::oci {

struct Reference {
  std::string registry;    // "host" or "host:port" as written (host lower-cased)
  std::string repository;  // "org/name" (lower-case path components)
  std::string tag;         // empty when only a digest was given
  std::string digest;      // "sha256:<64 hex>" or empty

  // What the manifest endpoint is addressed by: the digest when present, else the tag.
  std::string manifest_ref() const { return digest.empty() ? tag : digest; }
  // "registry/repo:tag[@digest]", canonical form for messages.
  std::string str() const;
};

// Parses a reference; a missing tag and digest means tag "latest". Errors are usage errors
// that say what form is expected.
Result<Reference> parse_reference(std::string_view text);

// Distribution's grammar for repository path components, tags and digests.
bool is_valid_repository(std::string_view repo);
bool is_valid_tag(std::string_view tag);
bool is_valid_digest(std::string_view digest);  // only sha256 is accepted

// "sha256:<hex>" -> "<hex>" (caller checked is_valid_digest).
inline std::string digest_hex(std::string_view digest) { return std::string(digest.substr(7)); }

}  // namespace mb::oci
