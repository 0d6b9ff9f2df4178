// PosixProcessRunner: stdin/stdout plumbing, exit codes, and the bounds that keep a hostile or
// hung credential helper from hanging or flooding modelbake.
#include <gtest/gtest.h>

#include "core/process.hpp"

namespace mb {
namespace {

using std::chrono::milliseconds;

TEST(Process, PassesStdinAndCollectsStdoutAndExitCode) {
  PosixProcessRunner runner;
  auto r = runner.run({"/bin/cat"}, "https://index.docker.io/v1/", milliseconds(10'000), 1024);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->out, "https://index.docker.io/v1/");
  auto f = runner.run({"/bin/sh", "-c", "echo oops >&2; exit 3"}, "", milliseconds(10'000), 1024);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->exit_code, 3);
  EXPECT_EQ(f->err, "oops\n");
}

TEST(Process, OutputIsCapped) {
  PosixProcessRunner runner;
  auto r = runner.run({"/usr/bin/yes"}, "", milliseconds(10'000), 4096);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("more than 4096 bytes"), std::string::npos);
}

TEST(Process, HungHelperIsKilledAtTheDeadline) {
  PosixProcessRunner runner;
  auto r = runner.run({"/bin/sleep", "30"}, "", milliseconds(50), 1024);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("did not finish"), std::string::npos);
  // Closing its output does not help it outlive the deadline.
  auto q = runner.run({"/bin/sh", "-c", "exec >&- 2>&-; sleep 30"}, "", milliseconds(50), 1024);
  ASSERT_FALSE(q.ok());
}

TEST(Process, HelperIgnoringStdinDoesNotKillUs) {
  PosixProcessRunner runner;
  std::string big(1 << 20, 'x');  // more than a pipe holds; the helper exits without reading
  auto r = runner.run({"/bin/true"}, big, milliseconds(10'000), 1024);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->exit_code, 0);
}

TEST(Process, FindsExecutablesOnPathOnly) {
  EXPECT_EQ(find_in_path("sh", "/nonexistent::/bin"), "/bin/sh");
  EXPECT_EQ(find_in_path("no-such-program-xyz", "/bin:/usr/bin"), "");
  EXPECT_EQ(find_in_path("sh", ""), "");
}

}  // namespace
}  // namespace mb
