// Issue 11.7: environment parity with huggingface_hub (constants.py): ~ and $VARS in
// HF_HOME / HF_HUB_CACHE / HF_TOKEN_PATH, offline mode, HF_HUB_DISABLE_IMPLICIT_TOKEN.
#include <gtest/gtest.h>

#include <fstream>

#include "core/env.hpp"
#include "hub/config.hpp"
#include "store/layout.hpp"
#include "support/temp_dir.hpp"

namespace mb {
namespace {

using Vars = std::map<std::string, std::string>;

TEST(EnvParity, ExpandUserLikePython) {
  MapEnv env(Vars{{"HOME", "/home/u/"}});
  EXPECT_EQ(expand_user("~", env), "/home/u");
  EXPECT_EQ(expand_user("~/models", env), "/home/u/models");
  EXPECT_EQ(expand_user("/abs/~/x", env), "/abs/~/x");
  EXPECT_EQ(expand_user("rel/x", env), "rel/x");
  EXPECT_EQ(expand_user("~root/x", env), "/root/x");
  EXPECT_EQ(expand_user("~no-such-user-mb/x", env), "~no-such-user-mb/x");  // unknown: unchanged
  MapEnv root_home(Vars{{"HOME", "/"}});
  EXPECT_EQ(expand_user("~", root_home), "/");
}

TEST(EnvParity, ExpandVarsLikePython) {
  MapEnv env(Vars{{"SCRATCH", "/scratch/u"}, {"A_1", "a"}, {"DOLLAR", "$SCRATCH"}});
  EXPECT_EQ(expand_vars("$SCRATCH/hf", env), "/scratch/u/hf");
  EXPECT_EQ(expand_vars("${SCRATCH}hf", env), "/scratch/uhf");
  EXPECT_EQ(expand_vars("x$A_1-y", env), "xa-y");
  EXPECT_EQ(expand_vars("$UNSET/x", env), "$UNSET/x");  // unknown: left as written
  EXPECT_EQ(expand_vars("${UNSET}/x", env), "${UNSET}/x");
  EXPECT_EQ(expand_vars("${}/x $ ${SCRATCH", env), "${}/x $ ${SCRATCH");  // malformed
  EXPECT_EQ(expand_vars("$DOLLAR", env), "$SCRATCH");  // values are not expanded again
  EXPECT_EQ(expand_vars("a$$SCRATCH", env), "a$/scratch/u");
  EXPECT_EQ(expand_vars("no vars", env), "no vars");
}

TEST(EnvParity, ExpandPathIsVarsOfUser) {
  MapEnv env(Vars{{"HOME", "/home/u"}, {"SUB", "hf"}, {"TILDE", "~"}});
  EXPECT_EQ(expand_path("~/$SUB", env), "/home/u/hf");
  EXPECT_EQ(expand_path("$TILDE/x", env), "~/x");  // expanduser runs first, as in Python
}

TEST(EnvParity, CacheDirAndHfHomeAreExpanded) {
  MapEnv env(Vars{{"HOME", "/home/u"}, {"SCRATCH", "/s"}});
  EXPECT_EQ(resolve_cache_dir("", env), "/home/u/.cache/huggingface/hub");
  env.set("XDG_CACHE_HOME", "~/xdg");
  EXPECT_EQ(resolve_cache_dir("", env), "/home/u/xdg/huggingface/hub");
  env.set("HF_HOME", "$SCRATCH/hf");
  EXPECT_EQ(resolve_cache_dir("", env), "/s/hf/hub");
  EXPECT_EQ(hf_home_dir(env).value(), "/s/hf");
  env.set("HUGGINGFACE_HUB_CACHE", "~/legacy");
  EXPECT_EQ(resolve_cache_dir("", env), "/home/u/legacy");
  env.set("HF_HUB_CACHE", "~/models/${SCRATCH}");
  EXPECT_EQ(resolve_cache_dir("", env), "/home/u/models//s");
  EXPECT_EQ(resolve_cache_dir("~/flag", env), "~/flag");  // the shell expands flags
}

TEST(EnvParity, TokenPathIsExpanded) {
  test::TempDir dir;
  std::ofstream(dir.path() + "/tok") << "hf_fromExpandedPath\n";
  MapEnv env(Vars{{"TOKDIR", dir.path()}, {"HF_TOKEN_PATH", "$TOKDIR/tok"}});
  EXPECT_EQ(hub::resolve_token(env).value().value(), "hf_fromExpandedPath");
  MapEnv home(Vars{{"HOME", dir.path()}, {"HF_HOME", "~"}});
  std::ofstream(dir.path() + "/token") << "hf_fromHfHome";
  EXPECT_EQ(hub::resolve_token(home).value().value(), "hf_fromHfHome");
}

TEST(EnvParity, DisableImplicitTokenSendsNone) {
  MapEnv env(Vars{{"HF_TOKEN", "hf_implicitToken"}});
  EXPECT_TRUE(hub::resolve_token(env).value().has_value());
  for (const char* yes : {"1", "true", "ON", "yes"}) {
    env.set("HF_HUB_DISABLE_IMPLICIT_TOKEN", yes);
    EXPECT_FALSE(hub::resolve_token(env).value().has_value()) << yes;
  }
  for (const char* no : {"0", "false", "off", "2"}) {
    env.set("HF_HUB_DISABLE_IMPLICIT_TOKEN", no);
    EXPECT_TRUE(hub::resolve_token(env).value().has_value()) << no;
  }
}

TEST(EnvParity, OfflineSettingLikeHuggingfaceHub) {
  MapEnv env;
  EXPECT_FALSE(hub::offline_setting(env).has_value());
  env.set("TRANSFORMERS_OFFLINE", "1");
  EXPECT_EQ(hub::offline_setting(env).value(), "TRANSFORMERS_OFFLINE=1");
  env.set("HF_HUB_OFFLINE", "0");  // HF_HUB_OFFLINE set: TRANSFORMERS_OFFLINE is not consulted
  EXPECT_FALSE(hub::offline_setting(env).has_value());
  env.set("HF_HUB_OFFLINE", "True");
  EXPECT_EQ(hub::offline_setting(env).value(), "HF_HUB_OFFLINE=True");
  env.set("HF_HUB_OFFLINE", "");  // empty = unset
  EXPECT_EQ(hub::offline_setting(env).value(), "TRANSFORMERS_OFFLINE=1");
  EXPECT_TRUE(env_is_true("yEs"));
  EXPECT_FALSE(env_is_true(std::nullopt));
  EXPECT_FALSE(env_is_true(" 1"));
}

}  // namespace
}  // namespace mb
