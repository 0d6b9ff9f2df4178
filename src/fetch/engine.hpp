// The fetch engine: makes every file of a lock present in the store, verified, and visible
// in the hub view (blobs/, snapshots/, refs/). Per file: present object -> just link; else
// take the content lock (another process may be downloading the same bytes: wait, then
// find it done), download into tmp/, verify, adopt, link. Files run on a pool of workers;
// big files additionally use parallel ranges (download.hpp). A lock whose objects are all
// present is served without any network request.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "core/env.hpp"
#include "core/error.hpp"
#include "fetch/download.hpp"
#include "fetch/progress.hpp"
#include "hub/client.hpp"
#include "lock/lockfile.hpp"
#include "store/store.hpp"

namespace mb::fetch {

struct FetchOptions {
  int jobs = 8;  // files in flight at once
  DownloadOptions download;
};

struct FetchReport {
  uint64_t files_total = 0;
  uint64_t files_downloaded = 0;
  uint64_t files_reused = 0;     // already in the object store (or adopted from a blob)
  uint64_t bytes_downloaded = 0; // content bytes of downloaded files
  uint64_t bytes_reused = 0;
  uint64_t network_bytes = 0;    // body bytes received (includes retried/discarded bytes)
  uint64_t resumed_bytes = 0;    // taken over from partials of earlier runs
  std::vector<Error> errors;     // every file that failed (the first one is returned)
};

hub::RepoType to_hub_type(RepoType type);

// Locked files whose object is not in the store (no I/O beyond stat).
std::vector<const LockedFile*> missing_files(const Store& store, const LockedModel& model);

class Engine {
 public:
  // `hub` and `transport` may be null when the caller knows nothing must be downloaded
  // (a complete cache); the engine then fails instead of touching the network.
  Engine(const Store& store, const hub::HubClient* hub, net::Transport* transport, Clock& clock,
         FetchOptions options, Progress* progress);

  // Every file of every model present and linked; refs and snapshot metadata written.
  Status fetch(const Lockfile& lock, FetchReport& report);

  // Lock time: `files` are regular files (etag = git blob sha1) of `model` with an unknown
  // sha256. Gets their content into the store (download, or an existing blob of the same
  // etag), verified against the git sha1, and fills in each sha256.
  Status learn_sha256(const LockedModel& model, const std::vector<LockedFile*>& files,
                      FetchReport& report);

 private:
  struct Task {
    const LockedModel* model;
    LockedFile* file;
    bool publish;
  };
  Status run_tasks(std::vector<Task>& tasks, FetchReport& report);
  Status ensure_object(const Task& task, FetchReport& report);
  Result<bool> adopt_existing_blob(const LockedModel& m, LockedFile& f);
  Status download_and_adopt(const LockedModel& m, LockedFile& f, FetchReport& report);

  const Store& m_store;
  const hub::HubClient* m_hub;
  net::Transport* m_transport;
  Clock& m_clock;
  FetchOptions m_options;
  Progress* m_progress;
  std::mutex m_report_mutex;  // FetchReport is updated by all workers
};

}  // namespace mb::fetch
