// Big files: parallel byte ranges written in place, a hasher thread trailing the downloads
// over the contiguous prefix, and a resume sidecar (docs/fetch.md "Big files").
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "core/file.hpp"
#include "core/hash.hpp"
#include "core/log.hpp"
#include "core/parallel.hpp"
#include "fetch/download.hpp"
#include "fetch/extents.hpp"
#include "fetch/resume_state.hpp"

namespace mb::fetch {

namespace {

struct Shared {
  Shared(int fd_, const DownloadSpec& spec_, FileSource& source_, DownloadEnv& env_,
         std::string state_path_)
      : fd(fd_),
        spec(spec_),
        source(source_),
        env(env_),
        state_path(std::move(state_path_)),
        last_save(env_.clock.now()) {}

  // Mid-range state saves are rate-limited by time: each one is a file write and a rename on
  // the transfer thread. Finished ranges are always saved (by the worker, off that thread).
  static constexpr Clock::Duration k_save_interval{250};

  int fd;
  const DownloadSpec& spec;
  FileSource& source;
  DownloadEnv& env;
  std::string state_path;

  std::mutex mutex;  // guards everything below except the atomics
  std::condition_variable cv;
  ExtentSet done;
  std::vector<Extent> queue;
  size_t next = 0;
  std::optional<Error> error;
  bool range_ignored = false;
  uint64_t saved_covered = 0;
  Clock::TimePoint last_save;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> network{0};
  std::mutex save_mutex;  // keeps state files in order (an older snapshot never wins)

  void record(uint64_t begin, uint64_t end) {
    uint64_t covered = 0;
    bool save = false;
    bool prefix_grew = false;
    {
      std::lock_guard lock(mutex);
      uint64_t prefix = done.contiguous_prefix();
      done.add(begin, end);
      covered = done.covered();
      prefix_grew = done.contiguous_prefix() != prefix;
      Clock::TimePoint now = env.clock.now();
      save = covered > saved_covered && now - last_save >= k_save_interval;
      if (save) last_save = now;
    }
    // Waking the hasher costs a futex call (and an IPI under a hypervisor): only when it
    // has something new to digest.
    if (prefix_grew) cv.notify_all();
    if (env.watch) env.watch->landed(begin, end);
    network += end - begin;
    if (env.progress) {
      env.progress->add_network_bytes(end - begin);
      env.progress->file_progress(env.progress_id, covered);
    }
    if (save) save_state();
  }

  void save_state() {
    std::lock_guard save_lock(save_mutex);
    ResumeState state{spec.etag, spec.size, {}};
    {
      std::lock_guard lock(mutex);
      state.done = done;
      saved_covered = done.covered();
    }
    if (Status st = save_resume_state(env.door, state_path, state); !st.ok()) {
      log::debug("could not save download state: " + st.error().message);
    }
  }

  void fail_all(Error e) {
    {
      std::lock_guard lock(mutex);
      if (!error) error = std::move(e);
    }
    stop = true;
    cv.notify_all();
  }

  std::optional<Extent> take_work() {
    std::lock_guard lock(mutex);
    if (stop || next >= queue.size()) return std::nullopt;
    return queue[next++];
  }
};

// Collects the transport's small deliveries (libcurl hands over at most 16 KiB at a time)
// into large positional writes: a 16 KiB pwrite per callback made the syscalls, the
// bookkeeping and the hasher wake-ups dominate a loopback download.
class RangeSink final : public net::BodySink {
 public:
  static constexpr size_t k_buffer = 1 << 20;

  RangeSink(Shared& s, Extent item) : m_s(s), m_written(item.begin), m_end(item.end) {
    m_buffer.reserve(k_buffer);
  }
  // Next byte expected from the server (what is buffered counts as received).
  uint64_t pos() const { return m_written + m_buffer.size(); }

  // Writes and records what is buffered. Called when the buffer is full and after every
  // exchange, so a retry continues from a recorded position.
  Status flush() {
    if (m_buffer.empty()) return {};
    MB_TRY(pwrite_all(m_s.fd, m_buffer.data(), m_buffer.size(), m_written, m_s.source.label()));
    m_s.record(m_written, m_written + m_buffer.size());
    m_written += m_buffer.size();
    m_buffer.clear();
    return {};
  }

  Status on_response(int status, const net::Headers& headers) override {
    if (status != 206) {
      {
        std::lock_guard lock(m_s.mutex);
        m_s.range_ignored = true;
      }
      m_s.stop = true;
      m_s.cv.notify_all();
      return fail(ErrorCategory::cancelled, "server ignored Range for " + m_s.source.label());
    }
    auto cr = parse_content_range(headers.get("Content-Range").value_or(""));
    if (!cr || cr->first != pos() || cr->last >= m_end ||
        (cr->total && *cr->total != m_s.spec.size)) {
      return fail(ErrorCategory::permanent,
                  "server answered a different byte range for " + m_s.source.label() + " (" +
                      headers.get("Content-Range").value_or("no Content-Range") + ")");
    }
    return {};
  }

  Status on_data(const char* data, size_t size) override {
    if (m_s.stop) return fail(ErrorCategory::cancelled, "download stopped");
    if (size > m_end - pos()) {
      return fail(ErrorCategory::integrity,
                  "server sent more bytes than requested for " + m_s.source.label());
    }
    if (m_buffer.size() + size > k_buffer) MB_TRY(flush());
    m_buffer.insert(m_buffer.end(), data, data + size);
    return {};
  }

 private:
  Shared& m_s;
  uint64_t m_written, m_end;
  std::vector<char> m_buffer;
};

void run_worker(Shared& s, const DownloadOptions& options) {
  while (auto item = s.take_work()) {
    RangeSink sink(s, *item);
    net::RetryLoop loop(options.retry, s.env.clock);
    net::Attempt attempt;
    for (;;) {
      attempt.retry_after.reset();
      net::ByteRange range{sink.pos(), item->end - 1};
      auto response = exchange(s.source, s.env.transport, s.env.clock, range, sink, attempt);
      if (s.stop) return;
      Status st = sink.flush();
      if (!st.ok()) {
        s.fail_all(st.take_error());  // a local write failure: retrying the network won't help
        return;
      }
      if (!response.ok()) {
        st = response.take_error();
      } else if (sink.pos() != item->end) {
        st = fail(ErrorCategory::transient, "range of " + s.source.label() + " ended early");
      }
      if (st.ok()) break;
      if (!loop.retry_after_failure(st.error(), attempt)) {
        s.fail_all(loop.give_up(st.take_error(), attempt));
        return;
      }
      if (s.stop) return;
    }
    // Flush each finished range right away, so the fsync before publishing has little left.
    // (curl -o never syncs; we must: a published model must survive a power cut.)
    start_writeback(s.fd, item->begin, item->length());
    s.save_state();
  }
}

// Digests the contiguous prefix as it grows; re-reads what is on disk (page cache), which
// also covers bytes inherited from an earlier run.
struct PrefixHasher {
  Hasher sha256{HashAlgo::sha256};
  std::optional<GitBlobHasher> git;
  uint64_t hashed = 0;
  std::optional<Error> error;

  void run(Shared& s) {
    std::vector<char> buf(1 << 20);
    if (etag_is_git_sha1(s.spec.etag)) git.emplace(s.spec.size);
    while (hashed < s.spec.size) {
      uint64_t target = 0;
      {
        std::unique_lock lock(s.mutex);
        s.cv.wait(lock, [&] { return s.stop || s.done.contiguous_prefix() > hashed; });
        if (s.stop) return;
        target = s.done.contiguous_prefix();
      }
      while (hashed < target) {
        size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), target - hashed));
        ssize_t n = ::pread(s.fd, buf.data(), want, static_cast<off_t>(hashed));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          error = n < 0 ? errno_error("reading back " + s.source.label(), errno)
                        : make_error(ErrorCategory::io, "partial file shrank: " + s.source.label());
          s.fail_all(*error);
          return;
        }
        sha256.update(buf.data(), static_cast<size_t>(n));
        if (git) git->update(buf.data(), static_cast<size_t>(n));
        hashed += static_cast<uint64_t>(n);
      }
    }
  }
};

Status preallocate(int fd, uint64_t size, const std::string& what) {
  if (::ftruncate(fd, 0) != 0) return errno_error("truncating " + what, errno);
  int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(size));
  if (rc == 0) return {};
  if (rc != EOPNOTSUPP && rc != EINVAL) return errno_error("allocating " + what, rc);
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) return errno_error("sizing " + what, errno);
  return {};
}

}  // namespace

Result<PartialFile> open_partial(const DownloadSpec& spec, DownloadEnv& env,
                                 const std::string& label) {
  PartialFile p;
  p.path = partial_path(env.tmp_dir, spec.etag);
  p.state_path = partial_state_path(env.tmp_dir, spec.etag);
  auto state = load_resume_state(env.door, p.state_path, spec.etag, spec.size);
  // Refuse an impossible size before creating anything.
  if (!state) MB_TRY(ensure_free_space(env.tmp_dir, spec.size, label));
  // Through the door: a link planted at the partial's name is refused, never written through.
  MB_ASSIGN(p.fd, env.door.open_file(p.path, O_RDWR | O_CREAT));
  struct stat st {};
  bool sized = ::fstat(p.fd.get(), &st) == 0 && static_cast<uint64_t>(st.st_size) == spec.size;
  if (!state || !sized) {
    MB_TRY(preallocate(p.fd.get(), spec.size, label));
    state = ResumeState{spec.etag, spec.size, {}};
    (void)save_resume_state(env.door, p.state_path, *state);
  }
  p.state = std::move(*state);
  return p;
}

namespace {

enum class Outcome { ok, failed, range_ignored };

struct Round {
  Outcome outcome = Outcome::failed;
  std::optional<Error> error;
  uint64_t resumed = 0;
};

Round run_round(FileSource& source, const DownloadSpec& spec, const DownloadOptions& options,
                DownloadEnv& env, int fd, const std::string& path, const std::string& state_path,
                Downloaded& out) {
  Round round;
  std::string label = source.label();
  auto state = load_resume_state(env.door, state_path, spec.etag, spec.size);
  struct stat st {};
  bool sized = ::fstat(fd, &st) == 0 && static_cast<uint64_t>(st.st_size) == spec.size;
  if (!state || !sized) {
    // Check before allocating: a hostile or mistaken size fails here with a clear message.
    if (Status s = ensure_free_space(env.tmp_dir, spec.size, label); !s.ok()) {
      round.error = s.take_error();
      return round;
    }
    if (Status s = preallocate(fd, spec.size, label); !s.ok()) {
      round.error = s.take_error();
      return round;
    }
    state = ResumeState{spec.etag, spec.size, {}};
    (void)save_resume_state(env.door, state_path, *state);
  } else if (state->done.covered() > 0) {
    log::info("resuming " + label + ": " + format_bytes(state->done.covered()) + " of " +
              format_bytes(spec.size) + " already downloaded");
  }
  round.resumed = state->done.covered();
  if (env.watch) env.watch->begin(path, fd, state->done);
  uint64_t chunk = choose_chunk_size(spec.size, options.min_chunk);
  Shared s(fd, spec, source, env, state_path);
  s.done = state->done;
  s.saved_covered = round.resumed;
  s.queue = split_work(s.done.gaps(spec.size), chunk);
  if (env.progress) env.progress->file_progress(env.progress_id, round.resumed);

  PrefixHasher hasher;
  // The hasher trails the workers for the whole round (it is no job of theirs: it waits for
  // the prefix to grow), so it keeps a thread of its own.
  std::thread hash_thread([&] { hasher.run(s); });
  size_t workers =
      std::min<size_t>(static_cast<size_t>(std::max(1, options.connections)), s.queue.size());
  // Each worker pulls ranges from the shared queue; failures are recorded in `s` (fail_all).
  auto worker = [&](size_t) -> Status {
    run_worker(s, options);
    return {};
  };
  (void)parallel_for(workers, {static_cast<unsigned>(workers), StopPolicy::run_all}, worker);
  if (!s.stop && !s.error && !s.range_ignored) {
    hash_thread.join();  // every range is written: the hasher reaches the end by itself
  } else {
    s.stop = true;
    s.cv.notify_all();
    hash_thread.join();
  }
  out.network_bytes += s.network;
  if (s.range_ignored) {
    round.outcome = Outcome::range_ignored;
    return round;
  }
  if (s.error) {
    s.save_state();
    round.error = *s.error;
    return round;
  }
  // Digests are checked by download_file, which discards the partial on a mismatch.
  out.sha256 = hasher.sha256.finish_hex();
  out.git_sha1 = hasher.git ? hasher.git->finish_hex() : std::string();
  if (Status f = fsync_fd(fd, label); !f.ok()) {
    round.error = f.take_error();
    return round;
  }
  round.outcome = Outcome::ok;
  return round;
}

void discard(const CacheDoor& door, const std::string& path, const std::string& state_path) {
  (void)door.unlink(state_path);
  (void)door.unlink(path);
}

}  // namespace

Result<Downloaded> download_ranges(FileSource& source, const DownloadSpec& spec,
                                   const DownloadOptions& options, DownloadEnv& env) {
  std::string path = partial_path(env.tmp_dir, spec.etag);
  std::string state_path = partial_state_path(env.tmp_dir, spec.etag);
  if (!source.take_fresh_prime()) MB_TRY(source.prime(spec.etag, spec.size));
  if (!load_resume_state(env.door, state_path, spec.etag, spec.size)) {
    // Nothing to resume: refuse an impossible size before creating anything.
    MB_TRY(ensure_free_space(env.tmp_dir, spec.size, source.label()));
  }
  Downloaded out;
  out.temp_path = path;
  // A link planted at the partial's name is refused (O_NOFOLLOW), a FIFO too (fstat): the
  // bytes and the later chmod never reach a file outside the cache.
  MB_ASSIGN(UniqueFd fd, env.door.open_file(path, O_RDWR | O_CREAT));
  Round round = run_round(source, spec, options, env, fd.get(), path, state_path, out);
  if (round.outcome == Outcome::range_ignored) {
    log::info("server ignores Range for " + source.label() + "; downloading in one stream");
    (void)env.door.unlink(state_path);
    Downloaded single;
    Status st = stream_whole_file(source, spec, fd.get(), path, options, env, single);
    out.network_bytes += single.network_bytes;
    out.sha256 = single.sha256;
    out.git_sha1 = single.git_sha1;
    if (st.ok()) st = fd.close_checked(path);
    if (!st.ok()) {
      if (st.error().category == ErrorCategory::integrity) discard(env.door, path, state_path);
      return st.take_error();
    }
    return out;
  }
  if (round.outcome == Outcome::ok) {
    MB_TRY(fd.close_checked(path));
    out.resumed_bytes = round.resumed;
    return out;
  }
  Error e = *round.error;
  if (e.category == ErrorCategory::integrity ||
      !load_resume_state(env.door, state_path, spec.etag, spec.size)) {
    discard(env.door, path,
            state_path);  // bad bytes, or nothing recorded: the partial is worthless
  }
  return e;
}

}  // namespace mb::fetch
