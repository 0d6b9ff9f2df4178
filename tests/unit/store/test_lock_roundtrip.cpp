#include <gtest/gtest.h>

#include "core/hash.hpp"
#include "lock/lockfile.hpp"

namespace mb {
namespace {

Lockfile sample() {
  Lockfile lock;
  LockedModel m;
  m.name = "minilm";
  m.repo = "org/minilm";
  m.revision = "main";
  m.commit = std::string(40, 'c');
  m.include = {"*.json"};
  m.expect_json = R"({"dim":8})";
  m.files.push_back({"z.json", 3, sha256_hex("zzz"), git_blob_sha1_hex("zzz")});
  std::string big(100, 'b');
  m.files.push_back({"a/model.safetensors", 100, sha256_hex(big), sha256_hex(big)});
  LockedModel d = m;
  d.name = "alpha";
  lock.models = {m, d};
  return lock;
}

TEST(Lockfile, RoundTripIsStableAndSorted) {
  std::string text = serialize_lock(sample());
  auto parsed = parse_lock(text, "modelbake.lock");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->models[0].name, "alpha");
  EXPECT_EQ(parsed->models[1].files[0].path, "a/model.safetensors");
  EXPECT_TRUE(parsed->models[1].files[0].is_lfs());
  EXPECT_EQ(parsed->models[1].expect_json, R"({"dim":8})");
  EXPECT_EQ(serialize_lock(*parsed), text);  // byte-stable
  EXPECT_EQ(parsed->models[1].total_bytes(), 103u);
  EXPECT_NE(parsed->models[1].find_file("z.json"), nullptr);
}

TEST(Lockfile, RejectsHostileOrBrokenEntries) {
  auto mutate = [](auto fn) {
    Lockfile l = sample();
    fn(l);
    return parse_lock(serialize_lock(l), "x.lock");
  };
  EXPECT_FALSE(mutate([](Lockfile& l) { l.models[0].files[0].path = "../../etc/passwd"; }).ok());
  EXPECT_FALSE(mutate([](Lockfile& l) { l.models[0].files[0].sha256 = "abc"; }).ok());
  EXPECT_FALSE(mutate([](Lockfile& l) { l.models[0].commit = "main"; }).ok());
  EXPECT_FALSE(mutate([](Lockfile& l) { l.models[0].name = "a/b"; }).ok());
  EXPECT_FALSE(mutate([](Lockfile& l) { l.models[1].name = l.models[0].name; }).ok());
  EXPECT_FALSE(mutate([](Lockfile& l) { l.models[0].files[1].etag = std::string(64, 'f'); }).ok());
  EXPECT_FALSE(parse_lock("{not json", "x.lock").ok());
  EXPECT_FALSE(parse_lock(R"({"version": 7, "models": []})", "x.lock").ok());
}

}  // namespace
}  // namespace mb
