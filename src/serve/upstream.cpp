#include "serve/upstream.hpp"

#include <atomic>

#include "app/version.hpp"
#include "core/log.hpp"
#include "fetch/engine.hpp"
#include "hub/client.hpp"
#include "hub/config.hpp"
#include "net/curl_transport.hpp"
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

void Job::finish(Status st) {
  std::vector<std::function<void()>> waiters;
  {
    std::lock_guard<std::mutex> g(m_mutex);
    m_done = true;
    m_result = std::move(st);
    waiters.swap(m_waiters);
  }
  for (auto& w : waiters) w();
}

using Key = std::tuple<RepoType, std::string, std::string>;  // type, repo, commit or path key

struct Upstream::State {
  SystemClock clock;
  std::unique_ptr<net::CurlTransport> transport;
  std::unique_ptr<hub::HubClient> hub;        // with the mirror's token
  std::unique_ptr<hub::HubClient> anonymous;  // for the public/gated probe
  std::unique_ptr<Store> store;
  std::mutex mutex;
  std::map<Key, std::vector<Entry>> listings;  // by commit
  std::map<std::pair<RepoType, std::string>, bool> public_repos;
  std::map<Key, std::shared_ptr<Job>> jobs;  // by (type, repo, commit + "/" + path)
  std::vector<std::pair<std::thread, std::shared_ptr<Job>>> threads;
  std::atomic<uint64_t> started{0};
  std::atomic<size_t> running{0};
};

HubError hub_error_from(const Error& e) {
  const std::string& m = e.message;
  auto has = [&](const char* s) { return m.find(s) != std::string::npos; };
  if (e.category == ErrorCategory::auth) {
    return HubError{401, has("gated") ? "GatedRepo" : "RepoNotFound",
                    "upstream refused access: " + m};
  }
  if (e.category == ErrorCategory::permanent) {
    if (has("revision not found")) return HubError{404, "RevisionNotFound", m};
    if (has("file not found")) return HubError{404, "EntryNotFound", m};
    if (has("repository") && has("not found")) return HubError{404, "RepoNotFound", m};
  }
  if (e.category == ErrorCategory::integrity)
    return HubError{502, "", "upstream sent bad content: " + m};
  return HubError{502, "", "upstream failed: " + m};
}

Result<std::unique_ptr<Upstream>> Upstream::create(const std::string& endpoint, const Env& env,
                                                   const CacheLayout& cache) {
  std::unique_ptr<Upstream> u(new Upstream());
  u->m = std::make_unique<State>();
  MB_ASSIGN(std::string url, hub::resolve_endpoint(endpoint, env, std::nullopt));
  MB_ASSIGN(std::optional<std::string> token, hub::resolve_token(env));
  net::CurlOptions curl;
  curl.user_agent = user_agent();
  MB_ASSIGN(u->m->transport, net::CurlTransport::create(curl));
  hub::ClientOptions options;
  options.endpoint = url;
  options.token = token;
  u->m->hub = std::make_unique<hub::HubClient>(*u->m->transport, u->m->clock, options);
  options.token.reset();
  options.retry.max_attempts = 2;
  u->m->anonymous = std::make_unique<hub::HubClient>(*u->m->transport, u->m->clock, options);
  u->m->store = std::make_unique<Store>(cache);
  MB_TRY(u->m->store->init());
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

bool Upstream::is_public(RepoType type, const std::string& repo) {
  {
    std::lock_guard<std::mutex> g(m->mutex);
    if (auto it = m->public_repos.find({type, repo}); it != m->public_repos.end())
      return it->second;
  }
  auto probe = m->anonymous->resolve_revision(type, repo, "main");
  // A repo without "main" is still public when the answer is RevisionNotFound.
  bool pub = probe.ok() || (probe.error().category == ErrorCategory::permanent &&
                            probe.error().message.find("revision not found") != std::string::npos);
  if (!probe.ok() && probe.error().category == ErrorCategory::transient)
    return false;  // ask again later
  std::lock_guard<std::mutex> g(m->mutex);
  m->public_repos[{type, repo}] = pub;
  return pub;
}

std::shared_ptr<Job> Upstream::fetch(RepoType type, const std::string& repo,
                                     const std::string& revision, const std::string& commit,
                                     const Entry& entry) {
  Key key{type, repo, commit + "/" + entry.path};
  std::lock_guard<std::mutex> g(m->mutex);
  if (auto it = m->jobs.find(key); it != m->jobs.end()) return it->second;  // single flight
  // Reap threads whose job is done (each ends right after finishing its job).
  for (auto it = m->threads.begin(); it != m->threads.end();) {
    if (it->second->done()) {
      it->first.join();
      it = m->threads.erase(it);
    } else {
      ++it;
    }
  }
  auto job = std::make_shared<Job>();
  m->jobs[key] = job;
  ++m->started;
  ++m->running;
  std::thread worker([this, key, job, type, repo, revision, commit, entry] {
    Status st = run_fetch(type, repo, revision, commit, entry);
    if (!st.ok())
      log::warn("serve: upstream fetch of " + repo + "/" + entry.path +
                " failed: " + st.error().message);
    {
      std::lock_guard<std::mutex> g2(m->mutex);
      m->jobs.erase(key);  // a later request after a failure tries again
    }
    --m->running;
    job->finish(std::move(st));
  });
  m->threads.emplace_back(std::move(worker), job);
  return job;
}

Status Upstream::run_fetch(RepoType type, const std::string& repo, const std::string& revision,
                           const std::string& commit, const Entry& entry) {
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
  fetch::FetchOptions options;
  options.jobs = 1;
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
