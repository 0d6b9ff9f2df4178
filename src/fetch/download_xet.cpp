// Xet downloads (docs/fetch.md "Xet"): per window of the file, one reconstruction query; its
// fetches (one signed byte range of a xorb each) run on `connections` workers, and each
// range is decoded chunk by chunk as it arrives and written with pwrite at the offsets of
// the terms that use it. Memory is one record and one decoded chunk per worker, whatever the
// file's size. Finished terms are recorded in the partial's resume state (file byte extents,
// the same sidecar as the bridge's ranges), so a killed run, or the bridge taking over,
// fetches only what is missing. A thread hashes the finished prefix meanwhile (XetHashTrail);
// download_file checks the sha256. A mismatch is first repaired here (xet_repair.cpp).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <set>

#include "core/hash.hpp"
#include "core/log.hpp"
#include "core/parallel.hpp"
#include "fetch/download.hpp"
#include "fetch/extents.hpp"
#include "fetch/xet_units.hpp"
#include "xet/chunk.hpp"

namespace mb::fetch {

namespace xetdl {

// Terms of a reconstruction for file bytes [first, last], grouped by fetch, without those
// whose bytes are all on disk already.
Result<std::vector<Unit>> plan_units(const xet::Reconstruction& rec, uint64_t first, uint64_t last,
                                     const ExtentSet& done) {
  if (rec.offset_into_first_range > first || rec.unpacked_total() < rec.offset_into_first_range ||
      rec.unpacked_total() - rec.offset_into_first_range < last - first + 1) {
    return fail(ErrorCategory::integrity,
                "the Xet reconstruction covers fewer bytes than the file has");
  }
  std::map<size_t, Unit> by_fetch;
  uint64_t pos = first;  // file offset of the current term's first decoded byte + skip
  int64_t skip = static_cast<int64_t>(rec.offset_into_first_range);
  for (const xet::Term& t : rec.terms) {
    uint64_t out_begin = pos - static_cast<uint64_t>(skip);
    uint64_t out_end = out_begin + t.unpacked_length;
    pos = out_end;
    skip = 0;
    TermPlan tp{&t, out_begin, std::max(out_begin, first), std::min(out_end, last + 1)};
    if (tp.clip_begin >= tp.clip_end || done.contains(tp.clip_begin, tp.clip_end)) continue;
    Unit& u = by_fetch[t.fetch];
    u.fetch = &rec.fetches[t.fetch];
    u.terms.push_back(tp);
  }
  std::vector<Unit> units;
  units.reserve(by_fetch.size());
  for (auto& [index, u] : by_fetch) units.push_back(std::move(u));
  // In file order (the CAS lists fetches in any order, e.g. by xorb hash): the file's prefix
  // then grows steadily, which the hash trail and a client streaming it from `serve` follow,
  // and a repair finds an early damaged term early.
  std::stable_sort(units.begin(), units.end(), [](const Unit& a, const Unit& b) {
    return a.terms.front().clip_begin < b.terms.front().clip_begin;
  });
  return units;
}

Status pread_all(int fd, char* buf, size_t len, uint64_t offset, const std::string& what) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::pread(fd, buf + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return errno_error("reading " + what, n < 0 ? errno : EIO);
    done += static_cast<size_t>(n);
  }
  return {};
}

namespace {

constexpr int k_xet_range_attempts = 3;

// Streams one fetch: checks the answer is exactly the requested range, decodes the records
// and writes each chunk where the terms using it want it.
class UnitSink final : public net::BodySink {
 public:
  UnitSink(Window& w, const Unit& u)
      : m_w(w),
        m_u(u),
        m_written(u.terms.size(), 0),
        m_stream(u.fetch->chunk_end - u.fetch->chunk_begin,
                 [this](std::string_view chunk) { return on_chunk(chunk); }) {}

  Status on_response(int status, const net::Headers& headers) override {
    if (status != 206) {
      return fail(ErrorCategory::permanent,
                  "the Xet CAS answered a range request with HTTP " + std::to_string(status));
    }
    auto cr = parse_content_range(headers.get("Content-Range").value_or(""));
    if (!cr || cr->first != m_u.fetch->byte_first || cr->last != m_u.fetch->byte_last) {
      return fail(ErrorCategory::integrity, "the Xet CAS answered another byte range (" +
                                                headers.get("Content-Range").value_or("none") +
                                                ")");
    }
    return {};
  }

  Status on_data(const char* data, size_t size) override {
    if (m_w.stop) return fail(ErrorCategory::cancelled, "download stopped");
    m_w.network += size;
    if (m_w.env.progress) m_w.env.progress->add_network_bytes(size);
    return m_stream.feed(data, size);
  }

  // After the body: every chunk arrived and every term decoded to its unpacked_length.
  Status check() const {
    MB_TRY(m_stream.finish());
    for (size_t k = 0; k < m_u.terms.size(); ++k) {
      const xet::Term& t = *m_u.terms[k].term;
      if (m_written[k] != t.unpacked_length) {
        return fail(ErrorCategory::integrity, "a term of xorb " + t.xorb.substr(0, 12) +
                                                  " decoded to " + std::to_string(m_written[k]) +
                                                  " bytes, the reconstruction says " +
                                                  std::to_string(t.unpacked_length));
      }
    }
    return {};
  }

 private:
  Status on_chunk(std::string_view chunk) {
    uint32_t index = m_u.fetch->chunk_begin + m_stream.chunks_done() - 1;
    for (size_t k = 0; k < m_u.terms.size(); ++k) {
      const TermPlan& tp = m_u.terms[k];
      if (index < tp.term->chunk_begin || index >= tp.term->chunk_end) continue;
      uint64_t at = tp.out_begin + m_written[k];
      m_written[k] += chunk.size();
      if (m_written[k] > tp.term->unpacked_length) {
        return fail(ErrorCategory::integrity, "a Xet term decodes to more bytes than announced");
      }
      uint64_t begin = std::max(at, tp.clip_begin);
      uint64_t end = std::min(at + chunk.size(), tp.clip_end);
      if (begin >= end) continue;
      const char* fresh = chunk.data() + (begin - at);
      if (m_w.verify) {
        MB_TRY(repair(fresh, begin, end));
        continue;
      }
      MB_TRY(pwrite_all(m_w.fd, fresh, end - begin, begin, m_w.label));
      if (begin == at && end == at + chunk.size())
        m_w.placed(tp.term->xorb, index, at, chunk.size());
    }
    return {};
  }

  // Repair mode: the file's bytes [begin, end) are rewritten only if they differ.
  Status repair(const char* fresh, uint64_t begin, uint64_t end) {
    m_disk.resize(static_cast<size_t>(end - begin));
    MB_TRY(pread_all(m_w.fd, m_disk.data(), m_disk.size(), begin, m_w.label));
    if (std::memcmp(m_disk.data(), fresh, m_disk.size()) == 0) return {};
    m_w.voiding();
    MB_TRY(pwrite_all(m_w.fd, fresh, m_disk.size(), begin, m_w.label));
    m_w.fixed(begin, end - begin);
    return {};
  }

  Window& m_w;
  const Unit& m_u;
  std::vector<uint64_t> m_written;  // decoded bytes seen per term
  std::vector<char> m_disk;         // repair mode: the file's bytes under a chunk
  xet::ChunkStream m_stream;
};

}  // namespace

// One unit under the retry policy. Corrupt data (a record that does not decode, a term of
// the wrong length) is fetched again like a dropped connection: only this range.
void run_unit(Window& w, const Unit& unit, xet::CasClient& cas, const DownloadOptions& options) {
  // The bridge is the better remedy for a CAS that keeps failing or stalls (hf_xet's known
  // stalls): a range gets at most k_xet_range_attempts tries before the file goes there.
  net::RetryPolicy policy = options.retry;
  policy.max_attempts = std::min(policy.max_attempts, k_xet_range_attempts);
  net::RetryLoop loop(policy, w.env.clock);
  net::Attempt attempt;
  for (;;) {
    UnitSink sink(w, unit);
    auto response = cas.get_range(*unit.fetch, sink);
    if (w.stop) return;
    Status st;
    if (!response.ok()) {
      st = response.take_error();
    } else if (response->status == 403) {
      w.expired = true;  // the signed URL expired: the window asks for new ones
      w.stop = true;
      return;
    } else if (!response->is_success()) {
      st = net::status_error(*response, "xorb range of " + w.label);
    } else {
      st = sink.check();
    }
    if (st.ok()) {
      w.finished(unit);
      return;
    }
    Error e = st.take_error();
    if (e.category == ErrorCategory::io || e.category == ErrorCategory::cancelled) {
      w.fail_all(std::move(e));
      return;
    }
    if (e.category == ErrorCategory::integrity) {
      log::warn(w.label + ": corrupt Xet data (" + e.message + "); fetching that range again");
      e.category = ErrorCategory::transient;
    }
    if (!loop.retry_after_failure(e, attempt)) {
      w.fail_all(loop.give_up(std::move(e), attempt));
      return;
    }
  }
}

}  // namespace xetdl

namespace {

using namespace xetdl;

// Terms whose chunks all lie in cached files are copied from there (pread + pwrite) and
// dropped from their unit; a unit left without terms is not fetched. Returns bytes copied.
Result<uint64_t> copy_local_terms(Window& w, std::vector<Unit>& units, const XetAccess& xet) {
  if (!xet.local_chunks) return uint64_t{0};
  std::set<std::string> xorbs;
  for (const Unit& u : units) xorbs.insert(u.fetch->xorb);
  LocalChunks local;
  xet.local_chunks(xorbs, local);
  if (local.empty()) return uint64_t{0};
  std::map<std::string, UniqueFd> open;
  std::vector<char> buf;
  uint64_t copied = 0;
  for (Unit& u : units) {
    std::vector<TermPlan> remote;
    for (const TermPlan& tp : u.terms) {
      const xet::Term& t = *tp.term;
      std::vector<const LocalChunk*> have;
      uint64_t total = 0;
      for (uint32_t c = t.chunk_begin; c < t.chunk_end; ++c) {
        auto it = local.find({t.xorb, c});
        if (it == local.end()) break;
        have.push_back(&it->second);
        total += it->second.length;
      }
      if (have.size() != t.chunk_end - t.chunk_begin || total != t.unpacked_length) {
        remote.push_back(tp);
        continue;
      }
      uint64_t at = tp.out_begin;
      for (size_t k = 0; k < have.size(); ++k) {
        const LocalChunk& lc = *have[k];
        UniqueFd& fd = open[lc.path];
        if (!fd.valid()) {
          MB_ASSIGN(fd, w.env.door.open_file(lc.path, O_RDONLY));  // an object: no link followed
        }
        buf.resize(lc.length);
        MB_TRY(pread_all(fd.get(), buf.data(), lc.length, lc.offset, lc.path));
        uint64_t begin = std::max(at, tp.clip_begin), end = std::min(at + lc.length, tp.clip_end);
        if (begin < end) {
          MB_TRY(pwrite_all(w.fd, buf.data() + (begin - at), end - begin, begin, w.label));
          copied += end - begin;
        }
        if (begin == at && end == at + lc.length) {
          w.placed(t.xorb, t.chunk_begin + static_cast<uint32_t>(k), at, lc.length);
        }
        at += lc.length;
      }
      Unit done{u.fetch, {tp}};
      w.finished(done);
    }
    u.terms = std::move(remote);
  }
  std::erase_if(units, [](const Unit& u) { return u.terms.empty(); });
  return copied;
}

// File bytes [first, last]: query, plan, fetch; a refused signed URL makes it query again.
Status run_window(PartialFile& partial, DownloadEnv& env, const DownloadOptions& options,
                  const XetAccess& xet, const std::string& file_id, uint64_t size, uint64_t first,
                  uint64_t last, const std::string& label, XetHashTrail& trail, Downloaded& out) {
  xet::CasClient& cas = xet.cas;
  constexpr int k_max_requeries = 3;
  for (int requery = 0;; ++requery) {
    xet::Reconstruction rec;
    if (requery == 0 && xet.prefetched && first == 0 && last + 1 == size) {
      rec = *xet.prefetched;
    } else {
      MB_ASSIGN(rec, cas.reconstruction(file_id, first, last));
    }
    MB_ASSIGN(std::vector<Unit> units, plan_units(rec, first, last, partial.state.done));
    Window w(partial.fd.get(), partial, env, label);
    w.index = &out.xet_index;
    w.trail = &trail;
    MB_ASSIGN(uint64_t copied, copy_local_terms(w, units, xet));
    out.local_bytes += copied;
    size_t workers = std::min<size_t>(static_cast<size_t>(std::max(1, options.connections)),
                                      std::max<size_t>(1, units.size()));
    std::atomic<size_t> next{0};
    auto worker = [&](size_t) -> Status {
      for (size_t i = next++; i < units.size() && !w.stop; i = next++) {
        run_unit(w, units[i], cas, options);
      }
      return {};
    };
    (void)parallel_for(workers, {static_cast<unsigned>(workers), StopPolicy::run_all}, worker);
    out.network_bytes += w.network;
    if (w.error) return *w.error;
    if (!w.expired) return {};
    if (requery >= k_max_requeries) {
      return fail(ErrorCategory::transient, "the Xet CAS kept refusing fresh signed URLs");
    }
    log::debug(label + ": a signed xorb URL expired; asking for the reconstruction again");
  }
}

}  // namespace

Result<std::optional<Downloaded>> download_xet(FileSource& source, const DownloadSpec& spec,
                                               const DownloadOptions& options, DownloadEnv& env) {
  std::string file_id = env.xet->file_id;
  if (file_id.empty()) {
    // No Xet hash in the lock: only a file that the bridge would HEAD anyway (a partial) is
    // probed; small ones go to the bridge at once (an older lock costs no extra request).
    if (!uses_partial(spec.size, options)) return std::optional<Downloaded>();
    MB_TRY(source.prime(spec.etag, spec.size));
    file_id = source.xet_hash();
    if (file_id.empty()) return std::optional<Downloaded>();
    (void)source.take_fresh_prime();  // used here; the bridge HEADs again if it takes over
  }
  const std::string& label = source.label();
  MB_ASSIGN(PartialFile partial, open_partial(spec, env, label));
  if (env.watch) env.watch->begin(partial.path, partial.fd.get(), partial.state.done);
  Downloaded out;
  out.temp_path = partial.path;
  out.xet_hash = file_id;
  out.resumed_bytes = partial.state.done.covered();
  if (out.resumed_bytes > 0) {
    log::info("resuming " + label + ": " + format_bytes(out.resumed_bytes) + " of " +
              format_bytes(spec.size) + " already downloaded");
  }
  if (env.progress) env.progress->file_progress(env.progress_id, out.resumed_bytes);
  XetHashTrail trail(partial.fd.get(), spec.size, label);  // hashes what is final meanwhile
  trail.advance(partial.state.done.contiguous_prefix());
  uint64_t window = std::max<uint64_t>(options.xet_window, 1);
  for (uint64_t first = 0; first < spec.size; first += window) {
    uint64_t last = std::min(spec.size, first + window) - 1;
    if (partial.state.done.contains(first, last + 1)) continue;
    MB_TRY(run_window(partial, env, options, *env.xet, file_id, spec.size, first, last, label,
                      trail, out));
  }
  if (out.local_bytes > 0) {
    log::info(label + ": " + format_bytes(out.local_bytes) + " of " + format_bytes(spec.size) +
              " copied from cached files that share its Xet chunks");
  }
  MB_ASSIGN(out.sha256, trail.finish());
  const std::string& expected = spec.sha256.empty() ? spec.etag : spec.sha256;
  if (out.sha256 != expected) {
    // No term carries a hash of its own: the terms are fetched again and compared.
    MB_ASSIGN(out.sha256, xetdl::repair_file(partial, env, options, *env.xet, file_id, spec.size,
                                             trail, expected, label, out.network_bytes));
  }
  MB_TRY(fsync_fd(partial.fd.get(), label));
  MB_TRY(partial.fd.close_checked(partial.path));
  return std::optional<Downloaded>(std::move(out));
}

}  // namespace mb::fetch
