// fetch::hub_client_options / open_hub: the one hub set-up of lock, fetch and verify --repair.
#include <gtest/gtest.h>

#include "fetch/hub_setup.hpp"

using namespace mb;

namespace {

TEST(HubSetup, RetriesAndTimeoutReachTheClientAndTheDownloads) {
  MapEnv env(std::map<std::string, std::string>{{"HF_TOKEN", "hf_secret_for_test"}});
  fetch::HubSettings s;
  s.retries = 2;
  s.metadata_timeout = std::chrono::seconds(7);
  s.manifest_endpoint = "http://127.0.0.1:1234/";
  auto o = fetch::hub_client_options(env, s);
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->retry.max_attempts, 3);
  EXPECT_EQ(o->metadata_timeout, std::chrono::milliseconds(7000));
  EXPECT_EQ(o->endpoint, "http://127.0.0.1:1234");
  ASSERT_TRUE(o->token.has_value());
  EXPECT_EQ(*o->token, "hf_secret_for_test");

  fetch::FetchOptions f;
  fetch::apply_retries(s, f);
  EXPECT_EQ(f.download.retry.max_attempts, 3);
  s.retries = 0;
  fetch::apply_retries(s, f);
  EXPECT_EQ(f.download.retry.max_attempts, 1);
}

TEST(HubSetup, FlagEndpointWinsOverTheManifest) {
  MapEnv env;
  fetch::HubSettings s;
  s.endpoint_flag = "http://127.0.0.1:1";
  s.manifest_endpoint = "http://127.0.0.1:2";
  auto o = fetch::hub_client_options(env, s);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->endpoint, "http://127.0.0.1:1");
}

TEST(HubSetup, OfflineModeIsAnErrorNamingTheSettingBeforeAnyTransport) {
  MapEnv env(std::map<std::string, std::string>{{"HF_HUB_OFFLINE", "1"}});
  fetch::HubSettings s;
  s.offline_what = "2 model(s) need content from the hub";
  s.offline_hint = "run it online";
  SystemClock clock;
  auto h = fetch::open_hub(env, clock, s);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error().category, ErrorCategory::permanent);
  EXPECT_EQ(h.error().message,
            "HF_HUB_OFFLINE=1 is set (offline mode), but 2 model(s) need content from the hub");
  EXPECT_EQ(h.error().hint, "run it online, or unset HF_HUB_OFFLINE");
}

TEST(HubSetup, OpenHubBuildsTransportAndClient) {
  MapEnv env;
  fetch::HubSettings s;
  s.endpoint_flag = "http://127.0.0.1:9";
  SystemClock clock;
  auto h = fetch::open_hub(env, clock, s);
  ASSERT_TRUE(h.ok()) << h.error().message;
  EXPECT_NE(h->transport, nullptr);
  EXPECT_NE(h->client, nullptr);
}

}  // namespace
