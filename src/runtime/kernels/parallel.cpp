#include "runtime/kernels/parallel.hpp"

#include <algorithm>
#include <atomic>

#include "core/parallel.hpp"

namespace mb::infer {

namespace {
std::atomic<int> g_threads{1};
constexpr int64_t k_min_work = 1 << 18;  // below ~256k multiply-adds a thread start costs more
}  // namespace

void set_infer_threads(int n) { g_threads = std::clamp(n, 1, 64); }
int infer_threads() { return g_threads; }

void parallel_rows(int64_t rows, int64_t cost_per_row,
                   const std::function<void(int64_t, int64_t)>& fn) {
  const int64_t work = rows * std::max<int64_t>(cost_per_row, 1);
  const int64_t n =
      std::min<int64_t>({infer_threads(), rows, std::max<int64_t>(work / k_min_work, 1)});
  if (n <= 1) {
    fn(0, rows);
    return;
  }
  const int64_t chunk = (rows + n - 1) / n;
  const int64_t chunks = (rows + chunk - 1) / chunk;  // the last of n chunks can be empty
  // One thread per chunk, the caller doing chunk 0; nothing here fails.
  const ParallelOptions options{static_cast<unsigned>(chunks), StopPolicy::run_all};
  auto run_chunk = [&](size_t c) -> Status {
    const int64_t b = static_cast<int64_t>(c) * chunk;
    fn(b, std::min(rows, b + chunk));
    return {};
  };
  (void)parallel_for(static_cast<size_t>(chunks), options, run_chunk);
}

}  // namespace mb::infer
