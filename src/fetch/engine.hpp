// The fetch engine: makes every file of a lock present in the store, verified, and visible
// in the hub view (blobs/, snapshots/, refs/). Per file: present object -> just link; else
// take the content lock (another process may be downloading the same bytes: wait, then
// find it done), download into tmp/, verify, adopt, link. Files run on a pool of workers;
// big files additionally use parallel ranges (download.hpp). A lock whose objects are all
// present is served without any network request.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/env.hpp"
#include "core/error.hpp"
#include "fetch/download.hpp"
#include "fetch/progress.hpp"
#include "hub/client.hpp"
#include "hub/xet_token.hpp"
#include "lock/lockfile.hpp"
#include "store/store.hpp"

namespace mb::fetch {

struct FetchOptions {
  int jobs = 8;  // files in flight at once
  DownloadOptions download;
  // Sees every downloaded file's bytes as they land (serve's pull-through runs one file per
  // engine and streams them); may be null.
  DownloadWatch* watch = nullptr;
};

// A file that could not be made present (its model stays incomplete: no ref, no meta).
struct FileFailure {
  std::string model;  // manifest name
  std::string repo;
  std::string path;
  Error error;
};

// A whole-file download discarded after a digest mismatch and started again.
struct RetryNote {
  std::string model;
  std::string repo;
  std::string path;
  std::string reason;  // the mismatch message
  int attempt = 0;     // number of the download that followed (2 = first retry)
};

struct FetchReport {
  uint64_t files_total = 0;
  uint64_t files_downloaded = 0;
  uint64_t files_reused = 0;      // already in the object store (or adopted from a blob)
  uint64_t bytes_downloaded = 0;  // content bytes of downloaded files
  uint64_t bytes_reused = 0;
  uint64_t network_bytes = 0;       // body bytes received (includes retried/discarded bytes)
  uint64_t resumed_bytes = 0;       // taken over from partials of earlier runs
  std::vector<FileFailure> errors;  // every file that failed, in lock order
  std::vector<RetryNote> retries;   // digest mismatches that were downloaded again
  std::vector<std::string> incomplete_models;  // names of models not completed (fetch only)
};

// The report of a fetch that follows locking in the same run. Regular files downloaded while
// locking are found in the store by the fetch, which counts them as reused: they are counted
// once, as downloaded, and the locking run's network bytes, resumed bytes and retries are
// added (its retries first).
void merge_locking_report(const FetchReport& locking, FetchReport& report);

// A lock can name one content (sha256, or etag) in several places, but never with different
// sizes or digests: such a lock was edited or written from a hostile hub, and fetching it
// would let one entry's verified bytes vouch for another's claim. Usage error (exit 2).
Status check_lock_consistency(const Lockfile& lock);

// Locked files whose object is not in the store (no I/O beyond stat).
std::vector<const LockedFile*> missing_files(const Store& store, const LockedModel& model);

class Engine {
 public:
  // `hub` and `transport` may be null when the caller knows nothing must be downloaded
  // (a complete cache); the engine then fails instead of touching the network.
  Engine(const Store& store, const hub::HubClient* hub, net::Transport* transport, Clock& clock,
         FetchOptions options, Progress* progress);

  // Every file of every model present and linked; refs and snapshot metadata written. A file
  // that fails does not stop the others: every model whose files all arrived is completed
  // (refs + meta), the failures are in report.errors, and the returned error names them
  // (category of the first failure in lock order).
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
  // Runs every task (keep_going) or stops at the first failure (lock time). Fills `failed`
  // (one flag per task) and report.errors in task order.
  void run_tasks(std::vector<Task>& tasks, bool keep_going, std::vector<char>& failed,
                 FetchReport& report);
  Status ensure_object(const Task& task, FetchReport& report);
  Result<bool> adopt_existing_blob(const LockedModel& m, LockedFile& f);
  Status download_and_adopt(const LockedModel& m, LockedFile& f, FetchReport& report);
  // Records who may read `m`'s repo (Store::record_snapshot_access) unless already known.
  void record_access(const LockedModel& m) const;
  // The Xet token of a model's repo at its commit, shared by all its files.
  hub::XetTokenProvider& xet_tokens(const LockedModel& m);
  // Chunks of `xorbs` that objects in the store hold (their Xet chunk indexes).
  void local_xet_chunks(const std::set<std::string>& xorbs, LocalChunks& out) const;
  // `f`'s whole-file Xet reconstruction from one batch query for all the small Xet files of
  // `m` still to download (the first file asking makes it); null when there is none.
  std::shared_ptr<const xet::Reconstruction> batched_reconstruction(const LockedModel& m,
                                                                    const LockedFile& f,
                                                                    xet::CasClient& cas);

  const Store& m_store;
  const hub::HubClient* m_hub;
  net::Transport* m_transport;
  Clock& m_clock;
  FetchOptions m_options;
  Progress* m_progress;
  std::mutex m_report_mutex;  // FetchReport is updated by all workers
  std::mutex m_xet_mutex;
  std::map<std::string, std::unique_ptr<hub::XetTokenProvider>> m_xet_tokens;
  std::mutex m_batch_mutex;
  std::set<std::string> m_batch_asked;  // models (repo@commit) whose batch was made
  std::map<std::string, std::shared_ptr<const xet::Reconstruction>> m_batched;  // by file id
};

}  // namespace mb::fetch
