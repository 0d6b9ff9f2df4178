// lock, fetch and verify --repair build their hub client from cli::hub_settings: the flags
// reach the client options the same way on every path.
#include <gtest/gtest.h>

#include "cli/app.hpp"

namespace mb::cli {
namespace {

TEST(CliHubSettings, FlagsReachTheClientOptions) {
  Context ctx;
  ctx.opts.endpoint = "http://127.0.0.1:7";
  fetch::HubSettings h = hub_settings(ctx, 0, 9);
  h.manifest_endpoint = "http://127.0.0.1:8";  // what fetch::run_fetch adds from the manifest
  EXPECT_EQ(h.user_agent.rfind("modelbake/", 0), 0u);
  MapEnv env;
  auto o = fetch::hub_client_options(env, h);
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->endpoint, "http://127.0.0.1:7");  // --endpoint beats the manifest
  EXPECT_EQ(o->retry.max_attempts, 1);           // --retries 0: one try
  EXPECT_EQ(o->metadata_timeout, std::chrono::milliseconds(9000));
  fetch::FetchOptions f;
  fetch::apply_retries(h, f);
  EXPECT_EQ(f.download.retry.max_attempts, 1);
}

}  // namespace
}  // namespace mb::cli
