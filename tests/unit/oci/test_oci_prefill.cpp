// fetch --from: which registry failures fall back to the hub (oci::prefill_or_fall_back).
#include <gtest/gtest.h>

#include "core/file.hpp"
#include "oci/reference.hpp"
#include "oci/transfer.hpp"
#include "support/fake_clock.hpp"
#include "support/fake_transport.hpp"
#include "support/temp_dir.hpp"

namespace mb::oci {
namespace {

using net::Method;

constexpr const char* k_manifest = "http://reg.test:5000/v2/team/m/manifests/v1";

struct OciPrefill : ::testing::Test {
  Result<PrefillOutcome> run(const std::string& cache) {
    ClientOptions o;
    o.plain_http = true;
    o.retry = net::RetryPolicy::none();
    RegistryClient client(transport, clock, "reg.test:5000", std::nullopt, o);
    auto ref = parse_reference("reg.test:5000/team/m:v1");
    EXPECT_TRUE(ref.ok());
    Store store{CacheLayout(cache)};
    return prefill_or_fall_back(client, *ref, Lockfile{}, store, PullOptions{});
  }
  net::FakeTransport transport;
  FakeClock clock;
  test::TempDir dir;
};

TEST(RegistryFallback, RemoteFailuresFallBackLocalAndContentFailuresStop) {
  EXPECT_TRUE(registry_failure_falls_back(ErrorCategory::transient));
  EXPECT_TRUE(registry_failure_falls_back(ErrorCategory::permanent));
  EXPECT_TRUE(registry_failure_falls_back(ErrorCategory::auth));
  EXPECT_FALSE(registry_failure_falls_back(ErrorCategory::integrity));
  EXPECT_FALSE(registry_failure_falls_back(ErrorCategory::usage));
  EXPECT_FALSE(registry_failure_falls_back(ErrorCategory::io));
  EXPECT_FALSE(registry_failure_falls_back(ErrorCategory::cancelled));
}

TEST_F(OciPrefill, UnavailableRegistryLeavesEverythingToTheHub) {
  transport.add(Method::get, k_manifest, 503, {});
  auto r = run(dir.path() + "/cache");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->files, 0u);
  ASSERT_TRUE(r->fell_back.has_value());
  EXPECT_EQ(r->fell_back->category, ErrorCategory::transient);
}

TEST_F(OciPrefill, UnauthorisedRegistryLeavesEverythingToTheHub) {
  transport.add(Method::get, k_manifest, 401, {});
  auto r = run(dir.path() + "/cache");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->fell_back.has_value());
  EXPECT_EQ(r->fell_back->category, ErrorCategory::auth);
}

TEST_F(OciPrefill, LocalDiskFailureStopsTheRun) {
  std::string file = dir.path() + "/not-a-dir";
  ASSERT_TRUE(write_file_atomic(file, "x").ok());
  auto r = run(file + "/cache");  // the cache cannot be created under a regular file
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().category, ErrorCategory::io);
}

}  // namespace
}  // namespace mb::oci
