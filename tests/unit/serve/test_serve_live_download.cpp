// A live download as clients read it (serve/live_download): bytes as they land, the last byte
// only once verified, a cut when the attempt is discarded or the job fails.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "core/file.hpp"
#include "serve/live_download.hpp"
#include "support/temp_dir.hpp"

namespace mb::serve {
namespace {

using Kind = StreamCursor::Step::Kind;

class ServeLiveDownload : public ::testing::Test {
 protected:
  void SetUp() override {
    door = std::make_unique<CacheDoor>(dir.path());
    auto fd = door->open_file(path, O_RDWR | O_CREAT);
    ASSERT_TRUE(fd.ok());
    writer = std::move(*fd);
    ASSERT_EQ(::ftruncate(writer.get(), static_cast<off_t>(content.size())), 0);
  }
  void write(uint64_t begin, uint64_t end) {
    ASSERT_EQ(
        ::pwrite(writer.get(), content.data() + begin, end - begin, static_cast<off_t>(begin)),
        static_cast<ssize_t>(end - begin));
    live->landed(begin, end);
  }
  StreamCursor cursor(uint64_t end) {
    return StreamCursor(live, *door, end,
                        [] { return Result<UniqueFd>(fail(ErrorCategory::io, "no")); });
  }

  test::TempDir dir;
  std::unique_ptr<CacheDoor> door;
  std::string path = "f.partial";
  std::string content = "0123456789abcdefghij";
  UniqueFd writer;
  std::shared_ptr<LiveDownload> live = std::make_shared<LiveDownload>();
  char buf[64] = {};
};

TEST_F(ServeLiveDownload, StreamsLandedBytesAndHoldsTheLastUntilVerified) {
  StreamCursor c = cursor(content.size());
  EXPECT_FALSE(live->started());
  StreamCursor::Step s = c.read(0, buf, sizeof buf);
  ASSERT_EQ(s.kind, Kind::wait);  // no attempt yet
  bool woken = false;
  live->notify_after(s.version, [&] { woken = true; });
  live->begin(path, writer.get(), fetch::ExtentSet{});
  EXPECT_TRUE(woken);
  write(0, 8);
  EXPECT_TRUE(live->started());
  s = c.read(0, buf, sizeof buf);
  ASSERT_EQ(s.kind, Kind::data);
  EXPECT_EQ(std::string(buf, s.bytes), "01234567");
  EXPECT_EQ(c.read(8, buf, sizeof buf).kind, Kind::wait);
  write(8, content.size());
  s = c.read(8, buf, sizeof buf);
  ASSERT_EQ(s.kind, Kind::data);
  EXPECT_EQ(std::string(buf, s.bytes), "89abcdefghi");  // all but the last byte
  s = c.read(19, buf, sizeof buf);
  ASSERT_EQ(s.kind, Kind::wait);
  woken = false;
  live->notify_after(s.version, [&] { woken = true; });
  live->finish(true);
  EXPECT_TRUE(woken);
  s = c.read(19, buf, sizeof buf);
  ASSERT_EQ(s.kind, Kind::data);
  EXPECT_EQ(std::string(buf, s.bytes), "j");
}

TEST_F(ServeLiveDownload, ARangeWaitsForItsBytesAndItsLastByteForTheVerifiedEnd) {
  live->begin(path, writer.get(), fetch::ExtentSet{});
  write(0, 4);
  StreamCursor c = cursor(15);  // a range ending at byte 14
  EXPECT_EQ(c.read(10, buf, sizeof buf).kind, Kind::wait);
  write(4, content.size());
  auto s = c.read(10, buf, sizeof buf);
  ASSERT_EQ(s.kind, Kind::data);
  EXPECT_EQ(std::string(buf, s.bytes), "abcd");
  EXPECT_EQ(c.read(14, buf, sizeof buf).kind, Kind::wait);  // every byte there, not verified
  live->finish(true);
  s = c.read(14, buf, sizeof buf);
  ASSERT_EQ(s.kind, Kind::data);
  EXPECT_EQ(std::string(buf, s.bytes), "e");
}

TEST_F(ServeLiveDownload, ADiscardedAttemptOrAFailedJobCutsTheReader) {
  live->begin(path, writer.get(), fetch::ExtentSet{});
  write(0, 10);
  StreamCursor c = cursor(content.size());
  ASSERT_EQ(c.read(0, buf, sizeof buf).kind, Kind::data);
  live->discarded();  // a digest mismatch: the bytes it read may be wrong
  EXPECT_EQ(c.read(10, buf, sizeof buf).kind, Kind::fail);
  // The next attempt: a new reader streams it; the old one stays cut.
  live->begin(path, writer.get(), fetch::ExtentSet{});
  write(0, 10);
  StreamCursor fresh = cursor(content.size());
  EXPECT_EQ(fresh.read(0, buf, sizeof buf).kind, Kind::data);
  EXPECT_EQ(c.read(10, buf, sizeof buf).kind, Kind::fail);
  live->finish(false);
  EXPECT_EQ(fresh.read(10, buf, sizeof buf).kind, Kind::fail);
  EXPECT_FALSE(live->started());
}

TEST_F(ServeLiveDownload, TheSameFileResumedKeepsTheAttemptARewrittenOneDoesNot) {
  live->begin(path, writer.get(), fetch::ExtentSet{});
  write(0, 6);
  StreamCursor c = cursor(content.size());
  ASSERT_EQ(c.read(0, buf, sizeof buf).kind, Kind::data);
  fetch::ExtentSet present;
  present.add(0, 6);
  live->begin(path, writer.get(), present);  // Xet handing over to the bridge
  EXPECT_EQ(c.read(0, buf, sizeof buf).kind, Kind::data);
  live->begin(path, writer.get(), fetch::ExtentSet{});  // written again from byte 0
  EXPECT_EQ(c.read(0, buf, sizeof buf).kind, Kind::fail);
}

TEST_F(ServeLiveDownload, AClientArrivingAsTheFileIsAdoptedReadsThePublishedFile) {
  live->begin(path, writer.get(), fetch::ExtentSet{});
  write(0, content.size());
  // Verified and renamed into the store, its end not reported yet: the partial's name is gone.
  ASSERT_TRUE(door->rename(path, "published").ok());
  StreamCursor c(live, *door, content.size(),
                 [this] { return door->open_file("published", O_RDONLY); });
  StreamCursor::Step s = c.read(0, buf, sizeof buf);
  ASSERT_EQ(s.kind, Kind::wait);
  live->finish(true);
  s = c.read(0, buf, sizeof buf);
  ASSERT_EQ(s.kind, Kind::data);
  EXPECT_EQ(std::string(buf, s.bytes), content);
}

}  // namespace
}  // namespace mb::serve
