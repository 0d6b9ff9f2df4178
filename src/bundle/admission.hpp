// What a bundle may hold, derived from the lock it carries and checked entry by entry while
// the bundle is read, before any content is copied (import's pass 2, see bundle/reader.hpp).
// An entry must be in the plan of the lock (hub or flat layout; the first entry that only one
// layout has decides), a file must have the size the lock gives it, and the content written
// in total is capped by the plan's bytes. A decompression bomb therefore costs at most the
// locked bytes of disk, never its expanded size.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "bundle/plan.hpp"
#include "core/error.hpp"
#include "lock/lockfile.hpp"
#include "store/layout.hpp"

namespace mb::bundle {

using Plan = std::map<std::string, Entry>;

class Admission {
 public:
  // `root`: the folder holding the lock in the bundle; `lock_size`: the bundled lock's bytes
  // (they need not be the canonical serialisation).
  static Result<Admission> create(const Lockfile& lock, const CacheLayout& cache,
                                  const std::string& root, uint64_t lock_size);

  Status admit(const std::string& path, EntryKind kind, uint64_t size);

  // Hub until an entry that only the flat plan has was admitted.
  Layout layout() const { return m_layout.value_or(Layout::hub); }
  const Plan& plan() const { return layout() == Layout::hub ? m_hub : m_flat; }
  // The most content bytes an admitted bundle can hold: every file of the larger plan, and a
  // dereferenced copy of every snapshot link (a bundle made with `cp -L` or `tar -h`).
  uint64_t budget() const { return m_budget; }

 private:
  // Size a file at `path` must have: the planned file's, or the size behind a planned link.
  Result<uint64_t> planned_size(const Plan& plan, const Entry& want) const;

  Plan m_hub, m_flat;
  std::string m_lock_path;
  uint64_t m_lock_size = 0;
  std::optional<Layout> m_layout;
  uint64_t m_budget = 0;
};

// The most bytes the model layers of an image built from `lock` can take: each file's content
// (padded to 512, counted twice for a dereferenced hub copy) plus generous room for headers,
// PAX records, folders, links and refs. `pull` refuses an image whose layers declare more,
// before downloading them.
uint64_t max_image_layer_bytes(const Lockfile& lock);

// The lock inside a tar (a lock layer), found and parsed as import's pass 1 does; nullopt
// when the tar holds none.
// With a door, a tar below its root (pull's staged lock layer) is opened through it.
Result<std::optional<Lockfile>> lock_in_tar(const std::string& tar_path,
                                            const CacheDoor* door = nullptr);

}  // namespace mb::bundle
