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
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "core/env.hpp"
#include "core/error.hpp"
#include "serve/catalog.hpp"

namespace mb::net {
class CurlTransport;
}
namespace mb::hub {
class HubClient;
}

namespace mb::serve {

// One upstream download that clients may wait on.
class Job {
 public:
  // Runs `fn` now if the job is done, else when it finishes (on the job's thread).
  void on_done(std::function<void()> fn);
  bool done() const;
  Status result() const;  // valid once done()
  void finish(Status st);

 private:
  mutable std::mutex m_mutex;
  bool m_done = false;
  Status m_result;
  std::vector<std::function<void()>> m_waiters;
};

// A snapshot as upstream lists it.
struct Listing {
  std::string commit;
  std::vector<Entry> files;  // sorted by path
};

class Upstream {
 public:
  // `endpoint` is checked like --endpoint; the token comes from HF_TOKEN / HF_TOKEN_PATH /
  // $HF_HOME/token of `env` and is sent upstream only.
  static Result<std::unique_ptr<Upstream>> create(const std::string& endpoint, const Env& env,
                                                  const CacheLayout& cache);
  ~Upstream();

  const std::string& endpoint() const;

  // Revision -> commit and the commit's files, upstream. Commit listings are kept in memory.
  Result<Listing> listing(RepoType type, const std::string& repo, const std::string& revision);

  // Whether anonymous clients may see `repo` upstream (false for gated and private repos).
  // Asked once per repo, without the mirror's token; an unreachable upstream counts as
  // "not public" (fail closed).
  bool is_public(RepoType type, const std::string& repo);

  // Starts (or joins) the download of `entry` of `repo` at `commit` into the cache; `revision`
  // is the name the client used (its ref is written). The job finishes once the file is
  // verified and linked, or failed.
  std::shared_ptr<Job> fetch(RepoType type, const std::string& repo, const std::string& revision,
                             const std::string& commit, const Entry& entry);

  uint64_t downloads_started() const;
  size_t jobs_running() const;

 private:
  Upstream() = default;
  Status run_fetch(RepoType type, const std::string& repo, const std::string& revision,
                   const std::string& commit, const Entry& entry);

  struct State;
  std::unique_ptr<State> m;
};

// An upstream failure as the hub would answer it to our client.
HubError hub_error_from(const Error& e);

}  // namespace mb::serve
