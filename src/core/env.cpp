#include "core/env.hpp"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <thread>
#include <vector>

namespace mb {

std::optional<std::string> ProcessEnv::get(const std::string& name) const {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

std::optional<std::string> MapEnv::get(const std::string& name) const {
  auto it = m_vars.find(name);
  if (it == m_vars.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

bool env_is_true(const std::optional<std::string>& value) {
  if (!value) return false;
  std::string upper = *value;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return upper == "1" || upper == "ON" || upper == "YES" || upper == "TRUE";
}

namespace {

// Home directory of a passwd entry (getpwnam_r/getpwuid_r), or nullopt.
std::optional<std::string> passwd_home(const std::string* name) {
  long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(static_cast<size_t>(hint > 0 ? hint : 16384));
  struct passwd pw {};
  struct passwd* found = nullptr;
  int rc = name != nullptr ? getpwnam_r(name->c_str(), &pw, buf.data(), buf.size(), &found)
                           : getpwuid_r(getuid(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0 || found == nullptr || found->pw_dir == nullptr) return std::nullopt;
  return std::string(found->pw_dir);
}

bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

}  // namespace

std::string expand_user(std::string_view path, const Env& env) {
  if (path.empty() || path[0] != '~') return std::string(path);
  size_t slash = path.find('/', 1);
  if (slash == std::string_view::npos) slash = path.size();
  std::optional<std::string> home;
  if (slash == 1) {
    home = env.get("HOME");
    if (!home) home = passwd_home(nullptr);
  } else {
    std::string user(path.substr(1, slash - 1));
    home = passwd_home(&user);
  }
  if (!home) return std::string(path);
  std::string h = *home;
  while (!h.empty() && h.back() == '/') h.pop_back();
  std::string out = h + std::string(path.substr(slash));
  return out.empty() ? "/" : out;
}

std::string expand_vars(std::string_view path, const Env& env) {
  std::string out;
  size_t i = 0;
  while (i < path.size()) {
    size_t dollar = path.find('$', i);
    if (dollar == std::string_view::npos) break;
    out.append(path.substr(i, dollar - i));
    size_t end = dollar + 1;
    std::string name;
    if (end < path.size() && path[end] == '{') {
      size_t close = path.find('}', end + 1);
      if (close != std::string_view::npos) {
        name = std::string(path.substr(end + 1, close - end - 1));
        end = close + 1;
      }
    } else {
      while (end < path.size() && is_name_char(path[end])) ++end;
      name = std::string(path.substr(dollar + 1, end - dollar - 1));
    }
    std::optional<std::string> value;
    if (!name.empty()) value = env.get(name);
    if (value) {
      out += *value;
      i = end;
    } else {
      out += '$';  // unknown or malformed: kept as written, scanning resumes after the '$'
      i = dollar + 1;
    }
  }
  out.append(path.substr(std::min(i, path.size())));
  return out;
}

std::string expand_path(std::string_view path, const Env& env) {
  return expand_vars(expand_user(path, env), env);
}

std::optional<std::string> hf_home_dir(const Env& env) {
  if (auto v = env.get("HF_HOME")) return expand_path(*v, env);
  if (auto v = env.get("XDG_CACHE_HOME")) return expand_path(*v + "/huggingface", env);
  if (auto v = env.get("HOME")) return expand_path(*v + "/.cache/huggingface", env);
  return std::nullopt;
}

void SystemClock::sleep_for(Duration d) { std::this_thread::sleep_for(d); }

int64_t SystemClock::unix_seconds() const {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<int64_t> source_date_epoch(const Env& env) {
  auto v = env.get("SOURCE_DATE_EPOCH");
  if (!v) return int64_t{0};
  int64_t out = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || p != v->data() + v->size() || out < 0) {
    return fail(ErrorCategory::usage,
                "SOURCE_DATE_EPOCH must be a non-negative integer, got '" + v->substr(0, 40) + "'",
                "unset it, or set it to seconds since 1970 (e.g. $(git log -1 --format=%ct))");
  }
  return out;
}

}  // namespace mb
