#include "runtime/infer/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

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
  std::vector<std::thread> pool;
  pool.reserve(static_cast<size_t>(n - 1));
  const int64_t chunk = (rows + n - 1) / n;
  for (int64_t t = 1; t < n; ++t) {
    const int64_t b = t * chunk, e = std::min(rows, b + chunk);
    if (b < e) pool.emplace_back([&fn, b, e] { fn(b, e); });
  }
  fn(0, std::min(rows, chunk));
  for (auto& th : pool) th.join();
}

}  // namespace mb::infer
