#include <gtest/gtest.h>

#include "serve/range.hpp"
#include "serve/route.hpp"

namespace mb::serve {
namespace {

Route ok(const char* target) {
  auto r = parse_route(target);
  EXPECT_TRUE(r.ok()) << target << ": " << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : Route{};
}

TEST(ServeRoute, HubRoutes) {
  Route r = ok("/org/name/resolve/main/sub/file.json");
  EXPECT_EQ(r.kind, RouteKind::resolve);
  EXPECT_EQ(r.type, RepoType::model);
  EXPECT_EQ(r.repo, "org/name");
  EXPECT_EQ(r.revision, "main");
  EXPECT_EQ(r.path, "sub/file.json");

  r = ok("/gpt2/resolve/refs%2Fpr%2F1/a%20b.txt");
  EXPECT_EQ(r.repo, "gpt2");
  EXPECT_EQ(r.revision, "refs/pr/1");
  EXPECT_EQ(r.path, "a b.txt");

  r = ok("/datasets/org/data/resolve/refs/pr/2/train.csv");
  EXPECT_EQ(r.type, RepoType::dataset);
  EXPECT_EQ(r.revision, "refs/pr/2");
  EXPECT_EQ(r.path, "train.csv");

  r = ok("/api/models/org/name/revision/v1.0?expand=sha");
  EXPECT_EQ(r.kind, RouteKind::revision);
  EXPECT_EQ(r.revision, "v1.0");
  EXPECT_EQ(ok("/api/models/org/name").revision, "main");

  r = ok("/api/datasets/org/data/tree/main/a/b?recursive=true");
  EXPECT_EQ(r.kind, RouteKind::tree);
  EXPECT_EQ(r.path, "a/b");
  EXPECT_EQ(ok("/api/models/name/tree/main/").path, "");

  r = ok("/api/models/org/name/paths-info/0123456789abcdef0123456789abcdef01234567");
  EXPECT_EQ(r.kind, RouteKind::paths_info);
  EXPECT_EQ(ok("/health").kind, RouteKind::health);
  EXPECT_EQ(ok("/metrics").kind, RouteKind::metrics);
  EXPECT_EQ(ok("/favicon.ico").kind, RouteKind::unknown);
  EXPECT_EQ(ok("/api/spaces/org/x/revision/main").kind, RouteKind::unknown);
}

TEST(ServeRoute, HostileTargetsAreUsageErrors) {
  for (const char* t :
       {"/..%2F..%2Fetc/resolve/main/passwd", "/org/tiny/resolve/..%2F..%2F/config.json",
        "/org/tiny/resolve/main/..%2Fx", "/org/tiny/resolve/main/../x",
        "/org/tiny/resolve/main/%2Fetc%2Fpasswd", "/org/tiny/resolve/main/a%00b",
        "/org/tiny/resolve/main/a%0ab", "/org/tiny/resolve/main/bad%zz",
        "/org/tiny/resolve/main/x%", "/org/tiny/resolve/main/a//b", "/org/tiny/resolve/main/a\\b",
        "/o--rg/tiny/resolve/main/x", "/api/models/org/tiny/tree/main/..",
        "/api/models/org/tiny/revision/.%2E", "/org/tiny/resolve/main", "relative"}) {
    auto r = parse_route(t);
    ASSERT_FALSE(r.ok()) << t;
    EXPECT_EQ(r.error().category, ErrorCategory::usage) << t;
  }
}

TEST(ServeRoute, QueryAndEscapes) {
  auto q = parse_query("/x?recursive=true&cursor=MTAw%3D&flag&a+b=c+d");
  EXPECT_EQ(q["recursive"], "true");
  EXPECT_EQ(q["cursor"], "MTAw=");
  EXPECT_EQ(q["flag"], "");
  auto form = parse_form("paths=a%2Fb&paths=c+d&bad=%zz&expand=true");
  ASSERT_EQ(form.size(), 3u);
  EXPECT_EQ(form[0], (std::pair<std::string, std::string>{"paths", "a/b"}));
  EXPECT_EQ(form[1].second, "c d");
}

TEST(ServeRange, SingleRanges) {
  ByteRange r;
  EXPECT_EQ(parse_range("", 100, r), RangeKind::none);
  ASSERT_EQ(parse_range("bytes=10-19", 100, r), RangeKind::partial);
  EXPECT_EQ(r.start, 10u);
  EXPECT_EQ(r.length, 10u);
  ASSERT_EQ(parse_range("bytes=90-", 100, r), RangeKind::partial);
  EXPECT_EQ(r.length, 10u);
  ASSERT_EQ(parse_range("bytes=95-1000", 100, r), RangeKind::partial);
  EXPECT_EQ(r.length, 5u);
  ASSERT_EQ(parse_range("bytes=-30", 100, r), RangeKind::partial);
  EXPECT_EQ(r.start, 70u);
  ASSERT_EQ(parse_range("bytes=-300", 100, r), RangeKind::partial);
  EXPECT_EQ(r.start, 0u);
  EXPECT_EQ(r.length, 100u);
  EXPECT_EQ(parse_range("bytes=100-", 100, r), RangeKind::unsatisfiable);
  EXPECT_EQ(parse_range("bytes=-0", 100, r), RangeKind::unsatisfiable);
  // Ignored: multi-range, other units, garbage, reversed, overflow, empty file.
  for (const char* h : {"bytes=0-1,5-6", "items=0-1", "bytes=a-b", "bytes=5-1", "bytes=-",
                        "bytes=99999999999999999999-"}) {
    EXPECT_EQ(parse_range(h, 100, r), RangeKind::none) << h;
  }
  EXPECT_EQ(parse_range("bytes=0-0", 0, r), RangeKind::none);
}

}  // namespace
}  // namespace mb::serve
