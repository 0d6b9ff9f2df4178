// Logging for the library and the CLI, on spdlog. Library code logs through these functions
// (or spdlog's default logger, which is the same logger); the CLI picks the level (-q/-v) and
// the format (--log-format human|json). Every line passes one redacting sink before it is
// formatted, so a registered secret (token, password) that leaks into a message, e.g. inside a
// URL, never reaches the terminal or a log collector, whichever way the message was logged.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace mb::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3, off = 4 };
// human: "modelbake: warning: text" lines; json: one JSON object a line
// {"time": ISO-8601 UTC, "level": "debug|info|warning|error", "message": text}.
enum class Format { human, json };

// Sets the level and the format, and where lines go (stderr unless a test passes a file).
void configure(Level level, Format format, std::FILE* out = stderr);
// The name human lines start with ("modelbake" unless modelbake-verify says otherwise).
void set_program(std::string name);
void set_level(Level level);
bool enabled(Level level);

// Registers a secret (token, password) to be replaced by "***" in all log output and in
// redact(). Secrets of 4 characters or more are masked wherever they appear; shorter ones
// where they stand alone, between characters other than [A-Za-z0-9_-] (so "ab" is masked in
// "Bearer ab" and "?token=ab&", not in "about").
void add_secret(std::string secret);
std::string redact(std::string_view text);

void write(Level level, std::string_view message);
// Lines written so far. A live progress display redraws below lines that appeared since its
// last frame instead of erasing them (a rate-limit or retry notice stays visible).
uint64_t lines_written();
inline void debug(std::string_view m) {
  if (enabled(Level::debug)) write(Level::debug, m);
}
inline void info(std::string_view m) {
  if (enabled(Level::info)) write(Level::info, m);
}
inline void warn(std::string_view m) {
  if (enabled(Level::warn)) write(Level::warn, m);
}
inline void error(std::string_view m) {
  if (enabled(Level::error)) write(Level::error, m);
}

}  // namespace mb::log
