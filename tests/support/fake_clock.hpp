// Test clock: sleeping advances time instantly and records the requested sleeps.
// Test-only (mb_testing): the shipped binaries carry no fakes.
#pragma once

#include <vector>

#include "core/env.hpp"

namespace mb {

class FakeClock final : public Clock {
 public:
  TimePoint now() const override { return m_now; }
  void sleep_for(Duration d) override {
    m_now += d;
    m_sleeps.push_back(d);
  }
  int64_t unix_seconds() const override {
    return 1'700'000'000 +
           std::chrono::duration_cast<std::chrono::seconds>(m_now.time_since_epoch()).count();
  }
  void advance(Duration d) { m_now += d; }
  const std::vector<Duration>& sleeps() const { return m_sleeps; }

 private:
  TimePoint m_now{};
  std::vector<Duration> m_sleeps;
};

}  // namespace mb
