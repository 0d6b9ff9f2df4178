#include "serve/registry_fill.hpp"

#include "core/log.hpp"

namespace mb::serve {

RegistryFill::~RegistryFill() {
  if (m_thread.joinable()) m_thread.join();
}

std::shared_ptr<Job> RegistryFill::start() {
  std::lock_guard<std::mutex> g(m_mutex);
  if (m_running) return m_running;
  if (m_ever && Clock::now() - m_last_end < m_min_interval) return nullptr;
  // The previous thread finished its job and touches nothing after that: joining is quick.
  if (m_thread.joinable()) m_thread.join();
  auto job = std::make_shared<Job>(JobKind::registry);
  m_running = job;
  m_ever = true;
  m_thread = std::thread([this, job] {
    Status st = m_pull();
    if (!st.ok()) log::warn("serve: " + log::redact(st.error().describe()));
    {
      std::lock_guard<std::mutex> g2(m_mutex);
      m_running.reset();
      m_last_end = Clock::now();
    }
    job->finish(std::move(st));
  });
  return job;
}

}  // namespace mb::serve
