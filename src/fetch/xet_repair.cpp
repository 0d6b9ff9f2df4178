// Repairing a Xet download whose sha256 does not match (docs/hub-protocol.md "Xet", issue
// 24 fault 6). A reconstruction carries no hash per term (only the file's Xet hash, a Merkle
// root over all its chunks, and the xorbs' hashes over chunks the file may not use), and a
// flipped byte in a chunk stored as-is changes no length, so nothing on the client can say
// which term is damaged. What can: the CAS's bytes fetched again. The terms are fetched a
// second time in file order and compared with the file; differing chunks are rewritten
// (only they are written) and the file is hashed again from the checkpoint before the first
// rewritten byte, stopping at the first batch after which the sha256 matches. A damage that
// was on the wire is thereby fixed on the Xet path; a CAS that stores wrong bytes sends the
// same again, nothing differs, and download_file hands the file to the bridge as before.
#include <algorithm>

#include "core/log.hpp"
#include "core/parallel.hpp"
#include "fetch/progress.hpp"
#include "fetch/xet_units.hpp"

namespace mb::fetch::xetdl {

namespace {

// How often a repair hashes the file's tail again before it waits for the end: many damaged
// batches (a CAS that keeps sending other bytes) must not cost a re-read each.
constexpr int k_max_early_rehashes = 2;
constexpr int k_max_requeries = 3;

struct RepairState {
  uint64_t fixed = 0;                 // bytes rewritten
  uint64_t pieces = 0;                // chunks (or their parts inside the window) rewritten
  uint64_t unconfirmed = UINT64_MAX;  // first rewritten byte not yet re-hashed
  int rehashes = 0;
  std::optional<std::string> matched;  // the sha256, once it is the expected one
};

// Compares units [b, b + n) with the file on `n` workers.
void verify_batch(Window& w, const std::vector<Unit>& units, size_t b, size_t n,
                  const XetAccess& xet, const DownloadOptions& options) {
  auto job = [&](size_t i) -> Status {
    run_unit(w, units[b + i], xet.cas, options);
    return {};
  };
  (void)parallel_for(n, {static_cast<unsigned>(n), StopPolicy::run_all}, job);
}

// One window of the file: query, then compare batch by batch; a refused signed URL makes it
// query again for what is not yet compared.
Status repair_window(PartialFile& partial, DownloadEnv& env, const DownloadOptions& options,
                     const XetAccess& xet, const std::string& file_id, uint64_t first,
                     uint64_t last, XetHashTrail& trail, const std::string& expected,
                     const std::string& label, uint64_t& network, RepairState& rs) {
  size_t batch = static_cast<size_t>(std::max(1, options.connections));
  ExtentSet verified;
  for (int requery = 0;; ++requery) {
    MB_ASSIGN(xet::Reconstruction rec, xet.cas.reconstruction(file_id, first, last));
    MB_ASSIGN(std::vector<Unit> units, plan_units(rec, first, last, verified));
    bool expired = false;
    for (size_t b = 0; b < units.size() && !expired; b += batch) {
      Window w(partial.fd.get(), partial, env, label);
      w.verify = true;
      verify_batch(w, units, b, std::min(batch, units.size() - b), xet, options);
      network += w.network;
      for (const Extent& e : w.verified.extents()) verified.add(e.begin, e.end);
      if (w.error) return *w.error;
      expired = w.expired;
      if (w.fixed_bytes == 0) continue;
      rs.fixed += w.fixed_bytes;
      rs.pieces += w.fixed_pieces;
      rs.unconfirmed = std::min<uint64_t>(rs.unconfirmed, w.first_fixed);
      if (rs.rehashes >= k_max_early_rehashes) continue;
      ++rs.rehashes;
      MB_ASSIGN(std::string sha, trail.rehash_from(rs.unconfirmed));
      rs.unconfirmed = UINT64_MAX;
      if (sha == expected) {
        rs.matched = sha;
        return {};
      }
    }
    if (!expired) return {};
    if (requery >= k_max_requeries) {
      return fail(ErrorCategory::transient, "the Xet CAS kept refusing fresh signed URLs");
    }
  }
}

}  // namespace

Result<std::string> repair_file(PartialFile& partial, DownloadEnv& env,
                                const DownloadOptions& options, const XetAccess& xet,
                                const std::string& file_id, uint64_t size, XetHashTrail& trail,
                                const std::string& expected, const std::string& label,
                                uint64_t& network) {
  log::warn(label +
            ": the downloaded bytes do not match the lock's sha256; fetching its Xet "
            "terms again to find the damaged ones");
  uint64_t before = network;
  RepairState rs;
  uint64_t window = std::max<uint64_t>(options.xet_window, 1);
  for (uint64_t first = 0; first < size && !rs.matched; first += window) {
    uint64_t last = std::min(size, first + window) - 1;
    MB_TRY(repair_window(partial, env, options, xet, file_id, first, last, trail, expected, label,
                         network, rs));
  }
  if (rs.fixed > 0 && env.watch) {
    // The repaired file, whole, as a new attempt (clients sent damaged bytes were cut).
    env.watch->begin(partial.path, partial.fd.get(), partial.state.done);
  }
  std::string sha;
  if (rs.matched) {
    sha = *rs.matched;
  } else if (rs.unconfirmed != UINT64_MAX) {
    MB_ASSIGN(sha, trail.rehash_from(rs.unconfirmed));
  } else {
    MB_ASSIGN(sha, trail.finish());
  }
  std::string cost = format_bytes(network - before) + " fetched again, " +
                     format_bytes(trail.rehashed_bytes()) + " hashed again";
  if (sha == expected) {
    log::info(label + ": repaired on the Xet path: " + std::to_string(rs.pieces) +
              " damaged chunk(s) rewritten, " + format_bytes(rs.fixed) + " (" + cost + ")");
  } else if (rs.fixed == 0) {
    log::warn(label + ": the Xet CAS sent the same bytes again (" + cost + ")");
  }
  return sha;
}

}  // namespace mb::fetch::xetdl
