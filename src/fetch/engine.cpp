#include "fetch/engine.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>

#include "core/file.hpp"
#include "core/hash.hpp"
#include "core/log.hpp"
#include "core/parallel.hpp"
#include "core/paths.hpp"

namespace mb::fetch {

namespace {

std::string label_of(const LockedModel& m, const LockedFile& f) { return m.repo + ": " + f.path; }

// Temps of an etag ("<etag>.tmp.<rand>", core's scheme) are only written under the etag's
// content lock, so while we hold it any other one is left over from a killed process.
void remove_stale_temps(const CacheDoor& door, const std::string& tmp_dir,
                        const std::string& etag) {
  auto entries = door.list(tmp_dir);
  if (!entries.ok()) return;
  std::string prefix = etag + ".";
  for (const auto& e : *entries) {
    const std::string& name = e.name;
    bool ours = name.starts_with(prefix) && temp_kind(name) == TempKind::ours;
    if (ours && !S_ISDIR(e.st.st_mode)) (void)door.unlink(tmp_dir + "/" + name);
  }
}

}  // namespace

std::vector<const LockedFile*> missing_files(const Store& store, const LockedModel& model) {
  std::vector<const LockedFile*> out;
  for (const LockedFile& f : model.files) {
    if (!store.has_object(f.sha256)) out.push_back(&f);
  }
  return out;
}

Engine::Engine(const Store& store, const hub::HubClient* hub, net::Transport* transport,
               Clock& clock, FetchOptions options, Progress* progress)
    : m_store(store),
      m_hub(hub),
      m_transport(transport),
      m_clock(clock),
      m_options(options),
      m_progress(progress) {}

Status check_lock_consistency(const Lockfile& lock) {
  struct Seen {
    const LockedModel* model;
    const LockedFile* file;
  };
  std::map<std::string, Seen> by_sha256, by_etag;
  auto where = [](const Seen& s) {
    return s.model->name + " (" + label_of(*s.model, *s.file) + ", " +
           std::to_string(s.file->size) + " bytes)";
  };
  auto conflict = [&](const std::string& what, const Seen& a, const Seen& b) {
    return fail(ErrorCategory::usage,
                "the lock is inconsistent: " + what + " is listed as different content by " +
                    where(a) + " and " + where(b),
                "one digest is one content of one size: the lock was edited by hand or written "
                "from a hostile hub. Run `modelbake lock` and review the diff");
  };
  for (const LockedModel& m : lock.models) {
    for (const LockedFile& f : m.files) {
      Seen here{&m, &f};
      if (!f.sha256.empty()) {
        auto [it, fresh] = by_sha256.emplace(f.sha256, here);
        if (!fresh && it->second.file->size != f.size) {
          return conflict("sha256 " + f.sha256, it->second, here);
        }
      }
      auto [it, fresh] = by_etag.emplace(f.etag, here);
      const LockedFile& other = *it->second.file;
      if (!fresh && (other.size != f.size ||
                     (!other.sha256.empty() && !f.sha256.empty() && other.sha256 != f.sha256))) {
        return conflict("etag " + f.etag, it->second, here);
      }
    }
  }
  return {};
}

namespace {

// The error fetch() returns when files failed: names every one of them, keeps the first
// failure's category (exit code) and hint.
Error summarize(const FetchReport& report, size_t files) {
  const FileFailure& first = report.errors.front();
  std::string label = first.repo + ": " + first.path;
  Error e = first.error;
  if (report.errors.size() == 1) {
    if (e.message.find(label) == std::string::npos) e.message = label + ": " + e.message;
  } else {
    std::string names;
    for (const FileFailure& f : report.errors)
      names += (names.empty() ? "" : ", ") + f.repo + ": " + f.path;
    e.message = std::to_string(report.errors.size()) + " of " + std::to_string(files) +
                " files failed (" + names + "); first: " + e.message;
  }
  std::string models;
  for (const std::string& m : report.incomplete_models) models += (models.empty() ? "" : ", ") + m;
  e.message += " [not completed: " + models + "]";
  std::string rerun = "run fetch again: only what is missing is downloaded";
  e.hint = e.hint.empty() ? rerun : e.hint + "; " + rerun;
  return e;
}

}  // namespace

Status Engine::fetch(const Lockfile& lock, FetchReport& report) {
  MB_TRY(check_lock_consistency(lock));
  // Work on copies: the tasks hold mutable file records (shared by learn_sha256).
  std::vector<LockedModel> models = lock.models;
  std::vector<Task> tasks;
  uint64_t planned_files = 0, planned_bytes = 0;
  for (LockedModel& m : models) {
    MB_TRY(validate_repo_id(m.repo));
    if (m.revision != m.commit) MB_TRY(validate_revision(m.revision));
    // A planted blobs/ (or repo folder) link must stop us before any blob is read through it.
    MB_TRY(m_store.check_repo_dirs(m.type, m.repo));
    for (LockedFile& f : m.files) {
      MB_TRY(validate_relative_path(f.path, "file path in the lock"));
      tasks.push_back({&m, &f, true});
      if (!m_store.has_object(f.sha256)) {
        planned_files++;
        planned_bytes += f.size;
      }
    }
  }
  report.files_total += tasks.size();
  if (m_progress) m_progress->add_planned(planned_files, planned_bytes);
  std::vector<char> failed;
  size_t errors_before = report.errors.size();
  run_tasks(tasks, true, failed, report);
  // A model is completed (ref + meta) only when every one of its files arrived; the others
  // keep whatever links their finished files got, and no ref points at them.
  size_t t = 0;
  for (const LockedModel& m : models) {
    MB_ASSIGN(size_t swept, m_store.remove_snapshot_leftovers(m));
    if (swept > 0) {
      log::info("removed " + std::to_string(swept) + " leftover temporary link(s) from " + m.repo);
    }
    bool complete = true;
    for (size_t i = 0; i < m.files.size(); ++i) complete = complete && !failed[t++];
    if (!complete) {
      report.incomplete_models.push_back(m.name);
      continue;
    }
    MB_TRY(m_store.write_ref(m));
    if (Status st = m_store.record_snapshot_use(m, m_clock.unix_seconds(), true); !st.ok()) {
      log::debug("could not record snapshot use: " + st.error().message);
    }
    record_access(m);
  }
  if (report.errors.size() > errors_before) return summarize(report, tasks.size());
  return {};
}

void Engine::record_access(const LockedModel& m) const {
  std::string known = snapshot_access(m_store.layout(), m.type, m.repo, m.commit);
  if (!m_hub || (!known.empty() && known != "unknown")) return;
  // Without a token the files came anonymously: public. With one, ask the hub (one API call
  // per snapshot, the first time): the mirror must not hand gated files to anyone.
  std::string access = "public";
  if (m_hub->options().token) {
    auto a = m_hub->repo_access(m.type, m.repo, m.commit);
    access = !a.ok()            ? "unknown"
             : a->is_private    ? "private"
             : a->gated.empty() ? "public"
                                : "gated";
  }
  if (Status st = m_store.record_snapshot_access(m, access); !st.ok()) {
    log::debug("could not record the repo's access: " + st.error().message);
  }
}

Status Engine::learn_sha256(const LockedModel& model, const std::vector<LockedFile*>& files,
                            FetchReport& report) {
  MB_TRY(m_store.check_repo_dirs(model.type, model.repo));
  std::vector<Task> tasks;
  uint64_t bytes = 0;
  for (LockedFile* f : files) {
    tasks.push_back({&model, f, false});
    bytes += f->size;
  }
  if (m_progress) m_progress->add_planned(files.size(), bytes);
  std::vector<char> failed;
  size_t errors_before = report.errors.size();
  // Lock time: one failure means no lock, so there is no point in going on.
  run_tasks(tasks, false, failed, report);
  if (report.errors.size() > errors_before) return report.errors[errors_before].error;
  return {};
}

void Engine::run_tasks(std::vector<Task>& tasks, bool keep_going, std::vector<char>& failed,
                       FetchReport& report) {
  // A cancelled run (transport shut down) stops either way; any other failure is one file's
  // problem unless we are locking. A task never started counts as failed but names no error.
  std::vector<char> started(tasks.size(), 0);
  ParallelOptions options{static_cast<unsigned>(std::max(1, m_options.jobs)),
                          keep_going ? StopPolicy::run_all : StopPolicy::stop_at_first_error};
  auto results = parallel_for(tasks.size(), options, [&](size_t i) {
    started[i] = 1;  // each index is written by one worker only
    return ensure_object(tasks[i], report);
  });
  failed.assign(tasks.size(), 0);
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (results[i].ok()) continue;
    failed[i] = 1;
    if (!started[i]) continue;
    const Task& task = tasks[i];
    report.errors.push_back(
        {task.model->name, task.model->repo, task.file->path, results[i].take_error()});
  }
}

Status Engine::ensure_object(const Task& task, FetchReport& report) {
  const LockedModel& m = *task.model;
  LockedFile& f = *task.file;
  auto reused = [&]() -> Status {
    if (task.publish) MB_TRY(m_store.publish_file(m, f));
    std::lock_guard lock(m_report_mutex);
    report.files_reused++;
    report.bytes_reused += f.size;
    return {};
  };
  if (!f.sha256.empty() && m_store.has_object(f.sha256)) return reused();
  if (!is_lower_hex(f.etag, 40) && !is_lower_hex(f.etag, 64)) {
    return fail(ErrorCategory::usage, "bad etag for " + label_of(m, f));
  }
  // Serialises with other threads and processes fetching the same content.
  MB_ASSIGN(FileLock content_lock, m_store.lock_content(f.etag));
  if (!f.sha256.empty() && m_store.has_object(f.sha256)) return reused();
  MB_ASSIGN(bool adopted, adopt_existing_blob(m, f));
  if (adopted) return reused();
  remove_stale_temps(m_store.layout().door(), m_store.layout().tmp_dir(), f.etag);
  MB_TRY(download_and_adopt(m, f, report));
  if (task.publish) {
    MB_TRY(m_store.publish_file(m, f));
  } else {
    // Lock time: keep blobs/<etag> so a concurrent or later lock finds the content.
    MB_TRY(m_store.link_blob(m, f));
  }
  return {};
}

// A blob of the same etag already in the repo folder (e.g. written by huggingface_hub, or by
// an earlier `modelbake lock`) is hashed and, when it is what it claims, adopted instead of
// downloaded again.
Result<bool> Engine::adopt_existing_blob(const LockedModel& m, LockedFile& f) {
  const CacheDoor& door = m_store.layout().door();
  std::string blob = m_store.layout().blob_path(m.type, m.repo, f.etag);
  auto st = door.lstat(blob);
  if (!st.ok() || !*st || !S_ISREG((*st)->st_mode) ||
      static_cast<uint64_t>((*st)->st_size) != f.size) {
    return false;
  }
  auto fd = door.open_file(blob, O_RDONLY);
  if (!fd.ok()) return false;
  auto digests =
      hash_fd(fd->get(), blob, etag_is_git_sha1(f.etag) ? WithGitSha1::yes : WithGitSha1::no);
  if (!digests.ok() || digests->size != f.size) return false;
  DownloadSpec spec{f.etag, f.sha256, f.size};
  if (!check_digests(spec, digests->sha256, digests->git_sha1, label_of(m, f)).ok()) {
    log::warn("ignoring damaged cached blob " + blob);
    return false;
  }
  f.sha256 = digests->sha256;
  if (!m_store.has_object(f.sha256)) {
    // Hard-link the blob into tmp/ and adopt it (a copy where hard links fail).
    std::string temp = m_store.new_temp_path(f.etag);
    if (Status linked = door.hard_link(blob, temp); !linked.ok()) {
      if (linked.error().category == ErrorCategory::integrity) return linked.take_error();
      if (!door.copy_file(blob, temp).ok()) return false;
    }
    MB_TRY(m_store.adopt_object(temp, f.sha256));
  }
  return true;
}

Status Engine::download_and_adopt(const LockedModel& m, LockedFile& f, FetchReport& report) {
  std::string label = label_of(m, f);
  if (m_hub == nullptr || m_transport == nullptr) {
    return fail(ErrorCategory::usage, label + " is missing from the cache and downloads are off");
  }
  int pid = m_progress ? m_progress->start_file(label, f.size) : 0;
  FileSource source(*m_hub, m.type, m.repo, m.commit, f.path, label);
  DownloadEnv env{*m_transport, m_clock, m_store.layout().door(), m_store.layout().tmp_dir(),
                  m_progress,   pid};
  env.watch = m_options.watch;
  env.on_integrity_retry = [&](const Error& mismatch, int next_attempt) {
    std::lock_guard lock(m_report_mutex);
    report.retries.push_back({m.name, m.repo, f.path, mismatch.message, next_attempt});
  };
  std::optional<xet::CasClient> cas;
  std::optional<XetAccess> xet_access;
  if (m_options.download.xet && f.is_lfs()) {
    const hub::ClientOptions& ho = m_hub->options();
    xet::CasOptions co;
    co.retry = m_options.download.retry;
    co.connect_timeout = ho.connect_timeout;
    co.metadata_timeout = ho.metadata_timeout;
    co.range_base = ho.download_base;
    co.range_min_rate = ho.download_min_rate;
    cas.emplace(*m_transport, m_clock, xet_tokens(m), co);
    xet_access.emplace(XetAccess{*cas, f.xet_hash, [this](const auto& xorbs, LocalChunks& out) {
                                   local_xet_chunks(xorbs, out);
                                 }});
    xet_access->prefetched = batched_reconstruction(m, f, *cas);
    env.xet = &*xet_access;
  }
  DownloadSpec spec{f.etag, f.sha256, f.size};
  auto result = download_file(source, spec, m_options.download, env);
  if (!result.ok()) {
    if (m_progress) m_progress->abandon_file(pid);
    return result.take_error();
  }
  f.sha256 = result->sha256;
  Status st = m_store.adopt_object(result->temp_path, f.sha256);
  if (!st.ok()) {
    (void)env.door.unlink(result->temp_path);
    if (m_progress) m_progress->abandon_file(pid);
    return st;
  }
  (void)env.door.unlink(partial_state_path(env.tmp_dir, f.etag));
  if (!result->xet_index.chunks.empty()) {
    Status saved = m_store.save_xet_index(f.sha256, result->xet_index.serialize());
    if (!saved.ok()) {
      log::debug("could not save the Xet chunk index: " + saved.error().message);
    }
  }
  {
    std::lock_guard lock(m_report_mutex);
    report.files_downloaded++;
    report.bytes_downloaded += f.size;
    report.network_bytes += result->network_bytes;
    report.resumed_bytes += result->resumed_bytes;
  }
  if (m_progress) {
    m_progress->finish_file(
        pid, FileEvent{label, f.size, FileOutcome::downloaded, result->network_bytes});
  }
  return {};
}

void Engine::local_xet_chunks(const std::set<std::string>& xorbs, LocalChunks& out) const {
  for (const std::string& object : m_store.xet_indexed_objects()) {
    auto text = m_store.read_xet_index(object);
    if (text.ok()) collect_local_chunks(*text, m_store.layout().object_path(object), xorbs, out);
  }
}

std::shared_ptr<const xet::Reconstruction> Engine::batched_reconstruction(const LockedModel& m,
                                                                          const LockedFile& f,
                                                                          xet::CasClient& cas) {
  // Small files only: the answer is held in memory until each file starts, and for a small
  // file the saved round trip matters most.
  constexpr uint64_t k_max_file = 64ull << 20;
  constexpr size_t k_max_ids = 100;  // per request
  auto fits = [&](const LockedFile& g) {
    return g.is_lfs() && xet::is_xet_hash(g.xet_hash) && g.size > 0 && g.size <= k_max_file &&
           g.size <= m_options.download.xet_window;
  };
  if (!fits(f)) return nullptr;
  std::lock_guard lock(m_batch_mutex);
  if (m_batch_asked.insert(to_string(m.type) + std::string(":") + m.repo + "@" + m.commit).second) {
    std::vector<std::string> ids;
    for (const LockedFile& g : m.files) {
      bool cached = !g.sha256.empty() && m_store.has_object(g.sha256);
      if (fits(g) && !cached && std::find(ids.begin(), ids.end(), g.xet_hash) == ids.end())
        ids.push_back(g.xet_hash);
    }
    for (size_t i = 0; ids.size() > 1 && i < ids.size(); i += k_max_ids) {
      std::vector<std::string> part(
          ids.begin() + static_cast<std::ptrdiff_t>(i),
          ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), i + k_max_ids)));
      auto got = cas.batch_reconstructions(part);
      if (!got.ok()) {  // an optimisation only: each file asks for itself instead
        log::debug("Xet batch reconstruction failed: " + got.error().message);
        break;
      }
      for (auto& [id, rec] : *got)
        m_batched[id] = std::make_shared<const xet::Reconstruction>(std::move(rec));
    }
  }
  auto it = m_batched.find(f.xet_hash);
  if (it == m_batched.end()) return nullptr;
  auto rec = it->second;
  m_batched.erase(it);  // used once: a later download asks afresh (URLs expire)
  return rec;
}

hub::XetTokenProvider& Engine::xet_tokens(const LockedModel& m) {
  std::lock_guard lock(m_xet_mutex);
  auto& slot = m_xet_tokens[std::string(to_string(m.type)) + ":" + m.repo + "@" + m.commit];
  if (!slot) slot = std::make_unique<hub::XetTokenProvider>(*m_hub, m.type, m.repo, m.commit);
  return *slot;
}

void merge_locking_report(const FetchReport& locking, FetchReport& report) {
  uint64_t moved_files = std::min(locking.files_downloaded, report.files_reused);
  uint64_t moved_bytes = std::min(locking.bytes_downloaded, report.bytes_reused);
  report.files_downloaded += moved_files;
  report.files_reused -= moved_files;
  report.bytes_downloaded += moved_bytes;
  report.bytes_reused -= moved_bytes;
  report.network_bytes += locking.network_bytes;
  report.resumed_bytes += locking.resumed_bytes;
  report.retries.insert(report.retries.begin(), locking.retries.begin(), locking.retries.end());
}

}  // namespace mb::fetch
