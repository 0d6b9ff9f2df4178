// The environment and the clock are injected so that policy code (endpoint precedence,
// retry/backoff) is unit-testable without a process environment or real time.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace mb {

class Env {
 public:
  virtual ~Env() = default;
  // Unset and empty variables both read as nullopt (matching huggingface_hub).
  virtual std::optional<std::string> get(const std::string& name) const = 0;
};

class ProcessEnv final : public Env {
 public:
  std::optional<std::string> get(const std::string& name) const override;
};

class MapEnv final : public Env {
 public:
  MapEnv() = default;
  explicit MapEnv(std::map<std::string, std::string> vars) : m_vars(std::move(vars)) {}
  void set(const std::string& k, const std::string& v) { m_vars[k] = v; }
  std::optional<std::string> get(const std::string& name) const override;

 private:
  std::map<std::string, std::string> m_vars;
};

// huggingface_hub's _is_true: "1", "ON", "YES", "TRUE" in any case; unset or anything else
// is false.
bool env_is_true(const std::optional<std::string>& value);

// Python's os.path.expanduser: "~" and "~/..." take $HOME (else the passwd entry of the
// current user); "~name/..." takes that user's home; an unknown user or anything not starting
// with '~' is returned unchanged.
std::string expand_user(std::string_view path, const Env& env);
// Python's os.path.expandvars: "$name" and "${name}" (name = [A-Za-z0-9_]+) become the
// variable's value; unset variables are left as written. Values are not expanded again.
std::string expand_vars(std::string_view path, const Env& env);
// expandvars(expanduser(path)): what huggingface_hub applies to HF_HOME, HF_HUB_CACHE and
// HF_TOKEN_PATH, so "~/models" or "$SCRATCH/hf" name the same folder for both tools.
std::string expand_path(std::string_view path, const Env& env);

// HF_HOME as huggingface_hub computes it: expand_path($HF_HOME, else
// ($XDG_CACHE_HOME, else $HOME/.cache) + "/huggingface"); nullopt when none is set.
std::optional<std::string> hf_home_dir(const Env& env);

// SOURCE_DATE_EPOCH (reproducible-builds.org) as the timestamp of everything a bundle or image
// records: 0 when unset; a usage error unless it is a non-negative decimal integer.
Result<int64_t> source_date_epoch(const Env& env);

class Clock {
 public:
  using Duration = std::chrono::milliseconds;
  using TimePoint = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
  virtual void sleep_for(Duration d) = 0;
  // Seconds since the Unix epoch (for timestamps written to disk).
  virtual int64_t unix_seconds() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::steady_clock::now(); }
  void sleep_for(Duration d) override;
  int64_t unix_seconds() const override;
};

}  // namespace mb
