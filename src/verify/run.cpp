#include "verify/run.hpp"

#include "core/paths.hpp"
#include "verify/repair.hpp"

namespace mb::verify {

Result<Lockfile> load_lock(const std::string& path) {
  auto lock = read_lock(path);
  if (!lock.ok()) {
    Error e = lock.take_error();
    if (e.hint.empty()) e.hint = "run `modelbake lock` (or pass --lock FILE)";
    return e;
  }
  return lock;
}

namespace {

// Repairs locally what `found` lists, fetches what only the hub has, and checks again.
Status repair(const Store& store, const Lockfile& lock, const VerifyRequest& request,
              const RepairFetch& fetch, VerifyOutcome& out) {
  MB_TRY(store.init());
  MB_ASSIGN(FileLock cache_lock, store.lock_cache(LockMode::shared));  // a writer, like fetch
  MB_ASSIGN(RepairResult fixed, repair_locally(store, lock, out.report));
  if (!fixed.needs_fetch.empty()) {
    Status st = fetch ? fetch(store, lock, fixed.needs_fetch)
                      : Status(make_error(ErrorCategory::usage, "repair needs the hub"));
    if (!st.ok()) return st.error().with_context("verify --repair");
  }
  out.repair = RepairSummary{std::move(out.report.findings), std::move(fixed.removed),
                             std::move(fixed.restored), std::move(fixed.needs_fetch)};
  MB_ASSIGN(out.report, verify_cache(store.layout(), lock, request.options));
  return {};
}

}  // namespace

Result<VerifyOutcome> run_verify(const VerifyRequest& request, const RepairFetch& fetch) {
  MB_ASSIGN(Lockfile lock, load_lock(request.lock_path));
  Store store{CacheLayout(absolute_path(request.cache_dir))};
  VerifyOutcome out;
  out.cache = store.layout().root();
  MB_ASSIGN(out.report, verify_cache(store.layout(), lock, request.options));
  if (request.repair && !out.report.ok()) MB_TRY(repair(store, lock, request, fetch, out));
  return out;
}

}  // namespace mb::verify
