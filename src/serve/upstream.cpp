#include "serve/upstream.hpp"

#include <atomic>

#include "core/log.hpp"
#include "fetch/engine.hpp"
#include "fetch/hub_setup.hpp"
#include "hub/client.hpp"
#include "store/store.hpp"

namespace mb::serve {

void Job::on_done(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> g(m_mutex);
    if (!m_done) {
      m_waiters.push_back(std::move(fn));
      return;
    }
  }
  fn();
}

bool Job::done() const {
  std::lock_guard<std::mutex> g(m_mutex);
  return m_done;
}

Status Job::result() const {
  std::lock_guard<std::mutex> g(m_mutex);
  return m_result;
}

std::shared_ptr<const Lookup> Job::lookup() const {
  std::lock_guard<std::mutex> g(m_mutex);
  return m_lookup;
}

void Job::finish(Status st, std::shared_ptr<const Lookup> lookup) {
  std::vector<std::function<void()>> waiters;
  {
    std::lock_guard<std::mutex> g(m_mutex);
    m_done = true;
    m_result = std::move(st);
    m_lookup = std::move(lookup);
    waiters.swap(m_waiters);
  }
  for (auto& w : waiters) w();
}

using Key = std::tuple<RepoType, std::string, std::string>;  // type, repo, commit or path key

struct Upstream::State {
  SystemClock clock;
  std::unique_ptr<net::Transport> transport;
  std::unique_ptr<hub::HubClient> hub;        // with the mirror's token
  std::unique_ptr<hub::HubClient> anonymous;  // for the public/gated probe
  std::unique_ptr<Store> store;
  fetch::FetchOptions fetch_options;  // per file: jobs 1, Xet as fetch decides it
  std::mutex mutex;
  std::map<Key, std::vector<Entry>> listings;                      // by commit
  std::map<std::pair<RepoType, std::string>, std::string> access;  // see Lookup::access
  std::map<Key, std::shared_ptr<Job>> jobs;  // by (type, repo, commit + "/" + path)
  std::vector<std::pair<std::thread, std::shared_ptr<Job>>> threads;
  std::atomic<uint64_t> started{0};
  std::atomic<size_t> running{0};
};

HubError hub_error_from(const Error& e) {
  const std::string& m = e.message;
  if (e.category == ErrorCategory::auth) {
    return HubError{401, e.code == "GatedRepo" ? "GatedRepo" : "RepoNotFound",
                    "upstream refused access: " + m};
  }
  if (e.category == ErrorCategory::permanent && !e.code.empty()) {
    return HubError{404, e.code, m};
  }
  if (e.category == ErrorCategory::integrity)
    return HubError{502, "", "upstream sent bad content: " + m};
  return HubError{502, "", "upstream failed: " + m};
}

Result<std::unique_ptr<Upstream>> Upstream::create(const fetch::HubSettings& settings,
                                                   const Env& env, const CacheLayout& cache) {
  std::unique_ptr<Upstream> u(new Upstream());
  u->m = std::make_unique<State>();
  // The same hub session as `fetch`: endpoint checks, token sources, HF_HUB_OFFLINE, retries
  // and user agent.
  MB_ASSIGN(fetch::Hub hub, fetch::open_hub(env, u->m->clock, settings));
  u->m->transport = std::move(hub.transport);
  u->m->hub = std::move(hub.client);
  hub::ClientOptions anonymous = u->m->hub->options();
  anonymous.token.reset();
  anonymous.retry.max_attempts = 2;
  u->m->anonymous = std::make_unique<hub::HubClient>(*u->m->transport, u->m->clock, anonymous);
  u->m->store = std::make_unique<Store>(cache);
  MB_TRY(u->m->store->init());
  u->m->fetch_options.jobs = 1;
  // HF_HUB_DISABLE_XET read the same way as fetch reads it: a mirror started with it set
  // pulls through the bridge only.
  fetch::apply_xet_setting(env, u->m->fetch_options);
  return u;
}

Upstream::~Upstream() {
  for (auto& [t, job] : m->threads) {
    if (t.joinable()) t.join();
  }
}

const std::string& Upstream::endpoint() const { return m->hub->endpoint(); }

Result<Listing> Upstream::listing(RepoType type, const std::string& repo,
                                  const std::string& revision) {
  Listing out;
  MB_ASSIGN(out.commit, m->hub->resolve_revision(type, repo, revision));
  Key key{type, repo, out.commit};
  {
    std::lock_guard<std::mutex> g(m->mutex);
    if (auto it = m->listings.find(key); it != m->listings.end()) {
      out.files = it->second;
      return out;
    }
  }
  MB_ASSIGN(auto entries, m->hub->list_files(type, repo, out.commit));
  for (const auto& e : entries)
    out.files.push_back(Entry{e.path, e.etag(), e.lfs_size.value_or(e.size)});
  std::lock_guard<std::mutex> g(m->mutex);
  m->listings[key] = out.files;
  return out;
}

std::string Upstream::access(RepoType type, const std::string& repo, const std::string& revision) {
  if (std::string known = known_access(type, repo); !known.empty()) return known;
  auto probe = m->anonymous->repo_access(type, repo, revision);
  if (!probe.ok() && (probe.error().category == ErrorCategory::transient ||
                      probe.error().code == "RevisionNotFound")) {
    return "unknown";  // ask again later
  }
  std::string found = !probe.ok() || probe->is_private ? "private"
                      : probe->gated.empty()           ? "public"
                                                       : "gated";
  std::lock_guard<std::mutex> g(m->mutex);
  m->access[{type, repo}] = found;
  return found;
}

std::string Upstream::known_access(RepoType type, const std::string& repo) const {
  std::lock_guard<std::mutex> g(m->mutex);
  if (auto it = m->access.find({type, repo}); it != m->access.end()) return it->second;
  return "";
}

std::shared_ptr<Job> Upstream::start_job(const Key& key, std::shared_ptr<Job> fresh,
                                         std::function<JobResult()> work) {
  std::lock_guard<std::mutex> g(m->mutex);
  if (auto it = m->jobs.find(key); it != m->jobs.end()) return it->second;  // single flight
  // Reap threads whose job is done (each ends right after finishing its job, and touches
  // nothing of ours after that: this join, under the mutex, cannot wait on it).
  for (auto it = m->threads.begin(); it != m->threads.end();) {
    if (it->second->done()) {
      it->first.join();
      it = m->threads.erase(it);
    } else {
      ++it;
    }
  }
  auto job = std::move(fresh);
  m->jobs[key] = job;
  ++m->running;
  std::thread worker([this, key, job, work = std::move(work)] {
    JobResult r = work();
    {
      // A later request starts afresh: after a failure it tries again, and a branch is
      // looked up again.
      std::lock_guard<std::mutex> g2(m->mutex);
      if (auto it = m->jobs.find(key); it != m->jobs.end() && it->second == job) m->jobs.erase(it);
    }
    --m->running;
    job->finish(std::move(r.first), std::move(r.second));  // resumes the waiting clients
  });
  m->threads.emplace_back(std::move(worker), job);
  return job;
}

std::shared_ptr<Job> Upstream::lookup(RepoType type, const std::string& repo,
                                      const std::string& revision) {
  return start_job(Key{type, repo, "lookup:" + revision}, std::make_shared<Job>(JobKind::lookup),
                   [this, type, repo, revision] {
                     auto out = std::make_shared<Lookup>();
                     out->access = access(type, repo, revision);
                     out->listing = listing(type, repo, revision);
                     return JobResult{Status{}, std::move(out)};
                   });
}

std::shared_ptr<Job> Upstream::fetch(RepoType type, const std::string& repo,
                                     const std::string& revision, const std::string& commit,
                                     const Entry& entry) {
  Key key{type, repo, commit + "/" + entry.path};
  auto live = std::make_shared<LiveDownload>();
  auto work = [this, type, repo, revision, commit, entry, live] {
    ++m->started;
    Status st = run_fetch(type, repo, revision, commit, entry, live.get());
    if (!st.ok())
      log::warn("serve: upstream fetch of " + repo + "/" + entry.path +
                " failed: " + st.error().message);
    live->finish(st.ok());  // streaming clients get their last byte, or are cut
    return JobResult{std::move(st), nullptr};
  };
  return start_job(key, std::make_shared<Job>(live, commit, entry), std::move(work));
}

Status Upstream::run_fetch(RepoType type, const std::string& repo, const std::string& revision,
                           const std::string& commit, const Entry& entry,
                           fetch::DownloadWatch* watch) {
  // A writer like any fetch: gc/rm (exclusive) wait until the file is adopted and linked.
  MB_ASSIGN(FileLock cache_lock, m->store->lock_cache(LockMode::shared));
  Lockfile lock;
  LockedModel model;
  model.name = "serve";
  model.repo = repo;
  model.type = type;
  model.revision = revision;
  model.commit = commit;
  model.files.push_back(
      LockedFile{entry.path, entry.size, entry.is_lfs() ? entry.etag : "", entry.etag});
  fetch::FetchOptions options = m->fetch_options;
  options.watch = watch;
  fetch::Engine engine(*m->store, m->hub.get(), m->transport.get(), m->clock, options, nullptr);
  fetch::FetchReport report;
  if (!entry.is_lfs()) {
    // Regular files: the listing has only the git sha1; the engine learns the sha256 while it
    // downloads and verifies against that sha1.
    std::vector<LockedFile*> unknown{&model.files.front()};
    MB_TRY(engine.learn_sha256(model, unknown, report));
  }
  lock.models.push_back(std::move(model));
  return engine.fetch(lock, report);
}

uint64_t Upstream::downloads_started() const { return m->started.load(); }
size_t Upstream::jobs_running() const { return m->running.load(); }

}  // namespace mb::serve
