#include "fetch/engine.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <mutex>
#include <thread>

#include "core/file.hpp"
#include "core/hash.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"

namespace mb::fetch {

namespace {

std::string label_of(const LockedModel& m, const LockedFile& f) { return m.repo + ": " + f.path; }

bool regular_file_of_size(const std::string& path, uint64_t size) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         static_cast<uint64_t>(st.st_size) == size;
}

// Temps "<etag>.<rand>.tmp" are only written under the etag's content lock, so while we
// hold it any other one is left over from a killed process.
void remove_stale_temps(const std::string& tmp_dir, const std::string& etag) {
  DIR* dir = ::opendir(tmp_dir.c_str());
  if (dir == nullptr) return;
  std::string prefix = etag + ".";
  while (dirent* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (name.size() > prefix.size() + 4 && name.compare(0, prefix.size(), prefix) == 0 &&
        name.compare(name.size() - 4, 4, ".tmp") == 0) {
      ::unlink((tmp_dir + "/" + name).c_str());
    }
  }
  ::closedir(dir);
}

}  // namespace

hub::RepoType to_hub_type(RepoType type) {
  return type == RepoType::dataset ? hub::RepoType::dataset : hub::RepoType::model;
}

std::vector<const LockedFile*> missing_files(const Store& store, const LockedModel& model) {
  std::vector<const LockedFile*> out;
  for (const LockedFile& f : model.files) {
    if (!store.has_object(f.sha256)) out.push_back(&f);
  }
  return out;
}

Engine::Engine(const Store& store, const hub::HubClient* hub, net::Transport* transport,
               Clock& clock, FetchOptions options, Progress* progress)
    : m_store(store), m_hub(hub), m_transport(transport), m_clock(clock),
      m_options(std::move(options)), m_progress(progress) {}

Status Engine::fetch(const Lockfile& lock, FetchReport& report) {
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
  MB_TRY(run_tasks(tasks, report));
  for (const LockedModel& m : models) {
    MB_ASSIGN(size_t swept, m_store.remove_snapshot_leftovers(m));
    if (swept > 0) {
      log::info("removed " + std::to_string(swept) + " leftover temporary link(s) from " + m.repo);
    }
    MB_TRY(m_store.write_ref(m));
    if (Status st = m_store.record_snapshot_use(m, m_clock.unix_seconds(), true); !st.ok()) {
      log::debug("could not record snapshot use: " + st.error().message);
    }
  }
  return {};
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
  return run_tasks(tasks, report);
}

Status Engine::run_tasks(std::vector<Task>& tasks, FetchReport& report) {
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  auto worker = [&] {
    for (;;) {
      size_t i = next++;
      if (i >= tasks.size() || failed) return;
      Status st = ensure_object(tasks[i], report);
      if (!st.ok()) {
        std::lock_guard lock(m_report_mutex);
        report.errors.push_back(st.error());
        failed = true;
      }
    }
  };
  size_t n = std::min<size_t>(static_cast<size_t>(std::max(1, m_options.jobs)), tasks.size());
  std::vector<std::thread> threads;
  for (size_t i = 1; i < n; ++i) threads.emplace_back(worker);
  if (n > 0) worker();
  for (auto& t : threads) t.join();
  if (!report.errors.empty()) return report.errors.front();
  return {};
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
  remove_stale_temps(m_store.layout().tmp_dir(), f.etag);
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
  std::string blob = m_store.layout().blob_path(m.type, m.repo, f.etag);
  if (!regular_file_of_size(blob, f.size)) return false;
  auto digests = hash_file(blob, etag_is_git_sha1(f.etag) ? WithGitSha1::yes : WithGitSha1::no);
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
    if (::link(blob.c_str(), temp.c_str()) != 0) {
      std::error_code ec;
      std::filesystem::copy_file(blob, temp, ec);
      if (ec) return false;
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
  FileSource source(*m_hub, to_hub_type(m.type), m.repo, m.commit, f.path, label);
  DownloadEnv env{*m_transport, m_clock, m_store.layout().tmp_dir(), m_progress, pid};
  DownloadSpec spec{f.etag, f.sha256, f.size};
  auto result = download_file(source, spec, m_options.download, env);
  if (!result.ok()) {
    if (m_progress) m_progress->abandon_file(pid);
    return result.take_error();
  }
  f.sha256 = result->sha256;
  Status st = m_store.adopt_object(result->temp_path, f.sha256);
  if (!st.ok()) {
    ::unlink(result->temp_path.c_str());
    if (m_progress) m_progress->abandon_file(pid);
    return st;
  }
  ::unlink(partial_state_path(env.tmp_dir, f.etag).c_str());
  {
    std::lock_guard lock(m_report_mutex);
    report.files_downloaded++;
    report.bytes_downloaded += f.size;
    report.network_bytes += result->network_bytes;
    report.resumed_bytes += result->resumed_bytes;
  }
  if (m_progress) {
    m_progress->finish_file(pid, FileEvent{label, f.size, FileOutcome::downloaded, result->network_bytes});
  }
  return {};
}

}  // namespace mb::fetch
