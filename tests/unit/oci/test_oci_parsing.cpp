#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/env.hpp"
#include "core/hash.hpp"
#include "oci/auth.hpp"
#include "oci/manifest.hpp"
#include "oci/reference.hpp"

namespace mb::oci {
namespace {

TEST(OciReference, ParsesRegistryPortRepoTag) {
  auto r = parse_reference("127.0.0.1:5000/team/models:v1");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->registry, "127.0.0.1:5000");
  EXPECT_EQ(r->repository, "team/models");
  EXPECT_EQ(r->tag, "v1");
  EXPECT_EQ(r->digest, "");
  EXPECT_EQ(r->manifest_ref(), "v1");
}

TEST(OciReference, DefaultsToLatestAndAcceptsDigests) {
  auto r = parse_reference("Registry.Example.com/a/b");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->registry, "registry.example.com");
  EXPECT_EQ(r->tag, "latest");
  std::string d = "sha256:" + std::string(64, 'a');
  auto withd = parse_reference("localhost/a@" + d);
  ASSERT_TRUE(withd.ok());
  EXPECT_EQ(withd->tag, "");
  EXPECT_EQ(withd->manifest_ref(), d);
  auto both = parse_reference("localhost:5000/a:t@" + d);
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->tag, "t");
  EXPECT_EQ(both->manifest_ref(), d);
}

TEST(OciReference, RejectsBadInput) {
  for (const char* bad :
       {"models:v1", "team/models:v1", "127.0.0.1:5000/Team/models", "127.0.0.1:5000/a//b",
        "127.0.0.1:5000/a:b:c", "127.0.0.1:99999/a", "127.0.0.1:5000/a@sha256:abc",
        "127.0.0.1:5000/a:-bad", "127.0.0.1:5000/a b", "127.0.0.1:5000/", "127.0.0.1:5000/a-"}) {
    auto r = parse_reference(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().category, ErrorCategory::usage);
    }
  }
}

TEST(OciAuth, ParsesBearerChallenge) {
  auto c = parse_www_authenticate(
      R"(Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push")");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].scheme, "bearer");
  EXPECT_EQ(c[0].param("realm"), "https://auth.example.com/token");
  EXPECT_EQ(c[0].param("service"), "registry.example.com");
  EXPECT_EQ(c[0].param("scope"), "repository:a/b:pull,push");
}

TEST(OciAuth, ParsesBasicAndMultipleChallengesAndEscapes) {
  auto c = parse_www_authenticate(
      R"(Basic realm="my \"realm\"", Bearer realm=https://x/t , error="invalid_token")");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].scheme, "basic");
  EXPECT_EQ(c[0].param("realm"), "my \"realm\"");
  EXPECT_EQ(c[1].scheme, "bearer");
  EXPECT_EQ(c[1].param("realm"), "https://x/t");
  EXPECT_EQ(c[1].param("error"), "invalid_token");
  EXPECT_TRUE(parse_www_authenticate("").empty());
  auto lone = parse_www_authenticate("Basic");
  ASSERT_EQ(lone.size(), 1u);
  EXPECT_TRUE(lone[0].params.empty());
}

TEST(OciAuth, Base64RoundTrip) {
  EXPECT_EQ(base64_encode("user:pass"), "dXNlcjpwYXNz");
  EXPECT_EQ(base64_decode("dXNlcjpwYXNz").value_or("?"), "user:pass");
  EXPECT_EQ(base64_decode("YQ==").value_or("?"), "a");
  EXPECT_FALSE(base64_decode("abc").has_value());
}

TEST(OciAuth, DockerConfigMatchesHostWithOrWithoutScheme) {
  std::string cfg = R"({"auths":{"https://reg.example.com:5000/v1/":{"auth":")" +
                    base64_encode("u:p:w") + R"("},"other.io":{"username":"x","password":"y"}}})";
  auto c = credentials_from_docker_config(cfg, "reg.example.com:5000", "config.json");
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c->has_value());
  EXPECT_EQ((*c)->username, "u");
  EXPECT_EQ((*c)->password, "p:w");
  auto o = credentials_from_docker_config(cfg, "other.io", "config.json");
  ASSERT_TRUE(o.ok() && o->has_value());
  EXPECT_EQ((*o)->password, "y");
  auto none = credentials_from_docker_config(cfg, "reg.example.com", "config.json");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  auto bad = credentials_from_docker_config(R"({"auths":{"h":{"auth":"bm9jb2xvbg=="}}})", "h",
                                            "config.json");
  EXPECT_FALSE(bad.ok());
  EXPECT_FALSE(credentials_from_docker_config("not json", "h", "config.json").ok());
}

TEST(OciAuth, EnvironmentCredentialsWinAndNeedBoth) {
  MapEnv env({{"MODELBAKE_REGISTRY_USER", "me"}, {"MODELBAKE_REGISTRY_PASSWORD", "pw-1234"}});
  PosixProcessRunner runner;  // never started: no helper is configured
  auto c = lookup_credentials(env, "h", runner);
  ASSERT_TRUE(c.ok() && c->has_value());
  EXPECT_EQ((*c)->username, "me");
  MapEnv half;
  half.set("MODELBAKE_REGISTRY_USER", "me");
  EXPECT_FALSE(lookup_credentials(half, "h", runner).ok());
  MapEnv nothing;
  nothing.set("HOME", "/nonexistent-home");
  auto n = lookup_credentials(nothing, "h", runner);
  ASSERT_TRUE(n.ok());
  EXPECT_FALSE(n->has_value());
}

Lockfile sample_lock() {
  Lockfile lock;
  LockedModel m;
  m.name = "minilm";
  m.repo = "org/minilm";
  m.revision = "main";
  m.commit = std::string(40, 'c');
  m.files.push_back({"config.json", 10, std::string(64, '1'), std::string(40, 'e')});
  m.files.push_back({"model.safetensors", 1000, std::string(64, '2'), std::string(64, '2')});
  lock.models.push_back(m);
  return lock;
}

TEST(OciManifest, ModelpackLayersAreTheLockedFiles) {
  Lockfile lock = sample_lock();
  ModelpackArtifact art = build_modelpack(lock);
  const Manifest& m = art.manifest;
  EXPECT_EQ(m.artifact_type, media::model_artifact);
  EXPECT_EQ(m.config.media_type, media::model_config);
  ASSERT_EQ(m.layers.size(), 3u);
  EXPECT_EQ(m.layers[0].digest, "sha256:" + std::string(64, '1'));
  EXPECT_EQ(m.layers[0].media_type, media::model_weight_config);
  EXPECT_EQ(m.layers[1].media_type, media::model_weight);
  EXPECT_EQ(m.layers[1].size, 1000u);
  EXPECT_EQ(m.layers[1].annotations.at(std::string(annotation::filepath)),
            "minilm/model.safetensors");
  EXPECT_EQ(m.layers[2].digest, "sha256:" + sha256_hex(art.lock_json));
  EXPECT_EQ(m.config.digest, "sha256:" + sha256_hex(art.config_json));
  // Deterministic: the same lock gives the same bytes.
  EXPECT_EQ(build_modelpack(lock).manifest_json, art.manifest_json);
  EXPECT_EQ(art.config_json.find("createdAt"), std::string::npos);

  auto parsed = parse_manifest(art.manifest_json);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(serialize_manifest(*parsed), art.manifest_json);
  LayerTarget t = find_modelpack_target(lock, parsed->layers[1]);
  ASSERT_NE(t.file, nullptr);
  EXPECT_EQ(t.file->path, "model.safetensors");
  Descriptor wrong = parsed->layers[1];
  wrong.digest = "sha256:" + std::string(64, '3');
  EXPECT_EQ(find_modelpack_target(lock, wrong).file, nullptr);
}

TEST(OciManifest, ModelpackLayersCarryTheTitleCrioMountsThemBy) {
  RawArtifact art = build_modelpack(sample_lock());
  for (const auto& l : art.manifest.layers) {
    EXPECT_EQ(l.annotations.at(std::string(annotation::title)),
              l.annotations.at(std::string(annotation::filepath)));
  }
  EXPECT_EQ(raw_artifact_kind(art.manifest), "modelpack");
}

TEST(OciManifest, DockerModelArtifactOfOneModel) {
  Lockfile lock = sample_lock();
  auto art = build_docker_model(lock);
  ASSERT_TRUE(art.ok()) << art.error().message;
  const Manifest& m = art->manifest;
  EXPECT_TRUE(m.artifact_type.empty());
  EXPECT_EQ(m.config.media_type, media::dmr_config);
  EXPECT_EQ(raw_artifact_kind(m), "docker-model");
  ASSERT_EQ(m.layers.size(), 3u);
  EXPECT_EQ(m.layers[0].media_type, media::dmr_file);
  EXPECT_EQ(m.layers[1].media_type, media::dmr_safetensors);
  EXPECT_EQ(m.layers[1].annotations.at(std::string(annotation::filepath)), "model.safetensors");
  // One-model lock: a repo path without the model name still finds its file.
  LayerTarget t = find_modelpack_target(lock, m.layers[1]);
  ASSERT_NE(t.file, nullptr);
  EXPECT_EQ(t.file->path, "model.safetensors");
  auto cfg = nlohmann::json::parse(art->config_json);
  EXPECT_EQ(cfg["config"]["format"], "safetensors");
  EXPECT_EQ(cfg["config"]["size"], std::to_string(10 + 1000 + art->lock_json.size()));
  EXPECT_EQ(cfg["files"].size(), 3u);
  EXPECT_EQ(cfg["files"][1]["diffID"], m.layers[1].digest);
  EXPECT_EQ(build_docker_model(lock)->manifest_json, art->manifest_json);

  Lockfile two = lock;
  two.models.push_back(lock.models[0]);
  two.models[1].name = "other";
  EXPECT_EQ(build_docker_model(two).error().category, ErrorCategory::usage);
  Lockfile no_weights = lock;
  no_weights.models[0].files.pop_back();
  EXPECT_EQ(build_docker_model(no_weights).error().category, ErrorCategory::usage);
}

TEST(OciManifest, RejectsIndexesAndBrokenDescriptors) {
  EXPECT_EQ(
      parse_manifest(
          R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]})")
          .error()
          .category,
      ErrorCategory::usage);
  EXPECT_FALSE(parse_manifest("[]").ok());
  EXPECT_FALSE(
      parse_manifest(R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
      "config":{"mediaType":"x","digest":"sha256:12","size":1},"layers":[]})")
          .ok());
  EXPECT_FALSE(
      parse_manifest(R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
      "config":{"mediaType":"x","digest":"sha256:)" +
                     std::string(64, 'a') + R"(","size":-1},"layers":[]})")
          .ok());
}

TEST(OciManifest, MediaTypesByFileKind) {
  EXPECT_EQ(modelpack_media_type("model.safetensors"), media::model_weight);
  EXPECT_EQ(modelpack_media_type("x/y.GGUF"), media::model_weight);
  EXPECT_EQ(modelpack_media_type("tokenizer.json"), media::model_weight_config);
  EXPECT_EQ(modelpack_media_type("vocab.txt"), media::model_weight_config);
  EXPECT_EQ(modelpack_media_type("README.md"), media::model_doc);
  EXPECT_EQ(modelpack_media_type("modeling.py"), media::model_code);
}

}  // namespace
}  // namespace mb::oci
