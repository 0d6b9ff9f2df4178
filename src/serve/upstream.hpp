// Pull-through (`serve --upstream URL`): what the cache lacks is asked of an upstream hub with
// the hub client, and files are brought in with the fetch engine (verified, adopted into the
// store, refs and snapshot links written) before they are served from the cache. Concurrent
// requests for the same file share one download (single flight); a waiting client's
// connection is suspended, not its server thread (server.cpp). See docs/serve.md.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "core/env.hpp"
#include "core/error.hpp"
#include "serve/catalog.hpp"
#include "serve/live_download.hpp"

namespace mb::fetch {
struct HubSettings;
}
namespace mb::hub {
class HubClient;
}

namespace mb::serve {

// A snapshot as upstream lists it.
struct Listing {
  std::string commit;
  std::vector<Entry> files;  // sorted by path
};

// What a lookup job learnt upstream about a repo and a revision.
struct Lookup {
  // Who may read the repo's files upstream: "public" (anyone), "gated", "private", or
  // "unknown" (upstream did not say; treated as restricted).
  std::string access = "unknown";
  Result<Listing> listing = Error{};
};

// Upstream work that clients may wait on: a download, or a lookup (visibility + listing).
// It always runs on its own thread, never on a server thread.
enum class JobKind { download, lookup, registry };

class Job {
 public:
  explicit Job(JobKind kind = JobKind::download) : m_kind(kind) {}
  // A download of `entry` at `commit`, whose bytes `live` shows as they land.
  Job(std::shared_ptr<LiveDownload> live, std::string commit, Entry entry)
      : m_kind(JobKind::download),
        m_live(std::move(live)),
        m_commit(std::move(commit)),
        m_entry(std::move(entry)) {}
  JobKind kind() const { return m_kind; }
  // A download's bytes as they land (clients stream them); null for other jobs.
  const std::shared_ptr<LiveDownload>& live() const { return m_live; }
  const std::string& commit() const { return m_commit; }  // a download's
  const Entry& entry() const { return m_entry; }          // a download's
  // Runs `fn` now if the job is done, else when it finishes (on the job's thread).
  void on_done(std::function<void()> fn);
  bool done() const;
  Status result() const;                         // valid once done()
  std::shared_ptr<const Lookup> lookup() const;  // a lookup job's answer, once done()
  void finish(Status st, std::shared_ptr<const Lookup> lookup = nullptr);

 private:
  const JobKind m_kind;
  const std::shared_ptr<LiveDownload> m_live;
  const std::string m_commit;
  const Entry m_entry;
  mutable std::mutex m_mutex;
  bool m_done = false;
  Status m_result;
  std::shared_ptr<const Lookup> m_lookup;
  std::vector<std::function<void()>> m_waiters;
};

class Upstream {
 public:
  // The hub session `fetch` would open with `settings` (its endpoint_flag is the upstream):
  // the token comes from HF_TOKEN / HF_TOKEN_PATH / $HF_HOME/token of `env` and is sent
  // upstream only; HF_HUB_OFFLINE is an error.
  static Result<std::unique_ptr<Upstream>> create(const fetch::HubSettings& settings,
                                                  const Env& env, const CacheLayout& cache);
  ~Upstream();

  const std::string& endpoint() const;

  // Starts (or joins) a lookup of `revision` of `repo`: whether anonymous clients may read
  // it upstream, and the revision's listing. Runs on a job thread (rate-limit waits included).
  std::shared_ptr<Job> lookup(RepoType type, const std::string& repo, const std::string& revision);

  // What an earlier lookup learnt about the repo's access (no I/O); "" when not asked yet.
  std::string known_access(RepoType type, const std::string& repo) const;

  // Starts (or joins) the download of `entry` of `repo` at `commit` into the cache; `revision`
  // is the name the client used (its ref is written). The job finishes once the file is
  // verified and linked, or failed; its live() download shows the bytes as they land.
  std::shared_ptr<Job> fetch(RepoType type, const std::string& repo, const std::string& revision,
                             const std::string& commit, const Entry& entry);

  uint64_t downloads_started() const;
  size_t jobs_running() const;

 private:
  Upstream() = default;
  // Revision -> commit and the commit's files, upstream. Commit listings are kept in memory.
  Result<Listing> listing(RepoType type, const std::string& repo, const std::string& revision);
  // Asked without the mirror's token: the hub's API is public for gated repos, so the answer's
  // "gated"/"private" flags decide; a refusal means private (or absent). An unreachable
  // upstream gives "unknown" (restricted: fail closed), asked again next time.
  std::string access(RepoType type, const std::string& repo, const std::string& revision);
  using JobResult = std::pair<Status, std::shared_ptr<const Lookup>>;
  // Runs `work` on its own thread as `fresh`, unless a job of that key runs already (single
  // flight: that one is returned); its result finishes the job.
  std::shared_ptr<Job> start_job(const std::tuple<RepoType, std::string, std::string>& key,
                                 std::shared_ptr<Job> fresh, std::function<JobResult()> work);
  Status run_fetch(RepoType type, const std::string& repo, const std::string& revision,
                   const std::string& commit, const Entry& entry, fetch::DownloadWatch* watch);

  struct State;
  std::unique_ptr<State> m;
};

// An upstream failure as the hub would answer it to our client.
HubError hub_error_from(const Error& e);

}  // namespace mb::serve
