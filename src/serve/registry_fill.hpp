// serve --from REGISTRY/REPO:TAG: a miss is first filled from OCI registries holding pushed
// bundles. The injected `pull` (the CLI's: `modelbake pull` of each reference, verified against
// the bundle's lock) brings them into the cache; the request is then answered from the cache.
// One pull at a time, on its own thread (the connection waits suspended), and at most one
// attempt per `min_interval`, so misses for content no registry has cost nothing more.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "core/error.hpp"
#include "serve/upstream.hpp"

namespace mb::serve {

class RegistryFill {
 public:
  RegistryFill(std::function<Status()> pull, std::chrono::seconds min_interval)
      : m_pull(std::move(pull)), m_min_interval(min_interval) {}
  ~RegistryFill();
  RegistryFill(const RegistryFill&) = delete;
  RegistryFill& operator=(const RegistryFill&) = delete;

  // The pull under way, a new one, or nullptr when the last one ended under min_interval ago.
  std::shared_ptr<Job> start();

 private:
  using Clock = std::chrono::steady_clock;
  std::function<Status()> m_pull;
  std::chrono::seconds m_min_interval;
  std::mutex m_mutex;
  std::shared_ptr<Job> m_running;
  Clock::time_point m_last_end{};
  bool m_ever = false;
  std::thread m_thread;
};

}  // namespace mb::serve
