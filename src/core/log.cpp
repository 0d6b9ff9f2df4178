// spdlog backend of core/log.hpp: one logger ("modelbake"), also spdlog's default logger, with
// one sink that redacts every message before a formatter (human or JSON lines) renders it.
#include "core/log.hpp"

#include <spdlog/details/log_msg.h>
#include <spdlog/formatter.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <ctime>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

namespace mb::log {

namespace {

std::atomic<uint64_t> g_lines{0};

std::string_view view(spdlog::string_view_t s) { return {s.data(), s.size()}; }

void append(spdlog::memory_buf_t& dest, std::string_view text) {
  dest.append(text.data(), text.data() + text.size());
}

// The level as both formats name it; human lines leave "info" out.
std::string_view level_name(spdlog::level::level_enum l) {
  switch (l) {
    case spdlog::level::trace:
    case spdlog::level::debug: return "debug";
    case spdlog::level::warn: return "warning";
    case spdlog::level::err:
    case spdlog::level::critical: return "error";
    default: return "info";
  }
}

// "modelbake: warning: text" -- the shape users and the integration tests know.
class HumanFormatter final : public spdlog::formatter {
 public:
  explicit HumanFormatter(std::string program) : m_prefix(std::move(program) + ": ") {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    append(dest, m_prefix);
    if (std::string_view level = level_name(msg.level); level != "info") {
      append(dest, level);
      append(dest, ": ");
    }
    append(dest, view(msg.payload));
    append(dest, "\n");
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<HumanFormatter>(*this);
  }

 private:
  std::string m_prefix;
};

std::string iso8601_utc(spdlog::log_clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[40];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms % 1000));
  return buf;
}

// One JSON object a line, for log collectors. Invalid UTF-8 in a message (a file name, say)
// becomes U+FFFD rather than an unparseable line.
class JsonLinesFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    nlohmann::ordered_json line = {{"time", iso8601_utc(msg.time)},
                                   {"level", level_name(msg.level)},
                                   {"message", std::string(view(msg.payload))}};
    append(dest, line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    append(dest, "\n");
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonLinesFormatter>();
  }
};

// The one sink: redaction happens here, before formatting, so neither a formatter nor a caller
// that logs through spdlog directly can put a registered secret on the output.
class RedactingSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit RedactingSink(std::FILE* out) : m_out(out) {}
  void set_output(std::FILE* out) {
    std::lock_guard lock(mutex_);
    m_out = out;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::string clean = redact(view(msg.payload));
    spdlog::details::log_msg redacted(msg);
    redacted.payload = spdlog::string_view_t(clean.data(), clean.size());
    spdlog::memory_buf_t buf;
    formatter_->format(redacted, buf);
    std::fwrite(buf.data(), 1, buf.size(), m_out);
    std::fflush(m_out);  // lines interleave with the progress display and child processes
    g_lines.fetch_add(1, std::memory_order_relaxed);
  }
  void flush_() override { std::fflush(m_out); }

 private:
  std::FILE* m_out;
};

spdlog::level::level_enum to_spdlog(Level l) {
  switch (l) {
    case Level::debug: return spdlog::level::debug;
    case Level::info: return spdlog::level::info;
    case Level::warn: return spdlog::level::warn;
    case Level::error: return spdlog::level::err;
    case Level::off: return spdlog::level::off;
  }
  return spdlog::level::info;
}

struct Backend {
  std::shared_ptr<RedactingSink> sink = std::make_shared<RedactingSink>(stderr);
  std::shared_ptr<spdlog::logger> logger = std::make_shared<spdlog::logger>("modelbake", sink);
  std::mutex mutex;  // guards program and format
  std::string program = "modelbake";
  Format format = Format::human;

  Backend() {
    set_formatter();
    logger->set_level(to_spdlog(Level::info));
    spdlog::set_default_logger(logger);  // spdlog::warn(...) lands here too, redacted
  }
  void set_formatter() {
    if (format == Format::json) {
      logger->set_formatter(std::make_unique<JsonLinesFormatter>());
    } else {
      logger->set_formatter(std::make_unique<HumanFormatter>(program));
    }
  }
};

Backend& backend() {
  static Backend b;
  return b;
}

}  // namespace

void configure(Level l, Format format, std::FILE* out) {
  Backend& b = backend();
  b.sink->set_output(out);
  {
    std::lock_guard lock(b.mutex);
    b.format = format;
    b.set_formatter();
  }
  set_level(l);
}

void set_program(std::string name) {
  Backend& b = backend();
  std::lock_guard lock(b.mutex);
  b.program = std::move(name);
  b.set_formatter();
}

void set_level(Level l) { backend().logger->set_level(to_spdlog(l)); }
bool enabled(Level l) { return backend().logger->should_log(to_spdlog(l)); }

void write(Level l, std::string_view message) {
  backend().logger->log(to_spdlog(l), spdlog::string_view_t(message.data(), message.size()));
}

uint64_t lines_written() { return g_lines.load(std::memory_order_relaxed); }

}  // namespace mb::log
