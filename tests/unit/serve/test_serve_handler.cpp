// The hub protocol handler over a real cache built with the store (no sockets).
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/file.hpp"
#include "core/hash.hpp"
#include "serve/handler.hpp"
#include "serve/hub_json.hpp"
#include "store/store.hpp"
#include "support/temp_dir.hpp"

namespace mb::serve {
namespace {

const std::string k_commit(40, 'c');

std::string header_of(const Reply& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

std::string body_of(const Reply& r) {
  if (!r.fd.valid()) return r.body;
  std::string out(r.length, '\0');
  EXPECT_EQ(::pread(r.fd.get(), out.data(), r.length, static_cast<off_t>(r.offset)),
            static_cast<ssize_t>(r.length));
  return out;
}

class ServeHandler : public ::testing::Test {
 protected:
  void SetUp() override {
    Store store{CacheLayout(dir.path())};
    ASSERT_TRUE(store.init().ok());
    LockedModel m;
    m.repo = "org/tiny";
    m.revision = "main";
    m.commit = k_commit;
    add(store, m, "config.json", "{\"a\": 1}\n", false);
    add(store, m, "sub/deep/x.txt", "hello\n", false);
    add(store, m, "model.safetensors", std::string(5000, 'w'), true);
    ASSERT_TRUE(store.write_ref(m).ok());
    handler = std::make_unique<Handler>(catalog, access, metrics, HandlerConfig{2, "127.0.0.1:9"});
  }

  void add(const Store& store, LockedModel& m, const std::string& path, const std::string& data,
           bool lfs) {
    LockedFile f{path, data.size(), sha256_hex(data),
                 lfs ? sha256_hex(data) : git_blob_sha1_hex(data)};
    std::string temp = store.new_temp_path(f.etag);
    ASSERT_TRUE(write_file_atomic(temp, data).ok());
    ASSERT_TRUE(store.adopt_object(temp, f.sha256).ok());
    ASSERT_TRUE(store.publish_file(m, f).ok());
    m.files.push_back(f);
  }

  Reply get(const std::string& target, const std::string& range = "",
            const std::string& method = "GET") {
    Request req{method, target, "mirror.local:8080", range, "", ""};
    return handler->handle(req);
  }

  test::TempDir dir;
  Catalog catalog{CacheLayout(dir.path())};
  AccessPolicy access;
  Metrics metrics;
  std::unique_ptr<Handler> handler;
};

TEST_F(ServeHandler, ResolveRegularAndLfsFiles) {
  Reply r = get("/org/tiny/resolve/main/config.json");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(body_of(r), "{\"a\": 1}\n");
  EXPECT_EQ(header_of(r, "ETag"), "\"" + git_blob_sha1_hex("{\"a\": 1}\n") + "\"");
  EXPECT_EQ(header_of(r, "X-Repo-Commit"), k_commit);
  EXPECT_EQ(header_of(r, "X-Linked-Etag"), "");
  EXPECT_EQ(r.route, "resolve");

  r = get("/org/tiny/resolve/" + k_commit + "/model.safetensors", "bytes=4990-");
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(body_of(r), std::string(10, 'w'));
  EXPECT_EQ(header_of(r, "X-Linked-Etag"), "\"" + sha256_hex(std::string(5000, 'w')) + "\"");
  EXPECT_EQ(header_of(r, "X-Linked-Size"), "5000");
  EXPECT_EQ(header_of(r, "Content-Range"), "bytes 4990-4999/5000");

  r = get("/org/tiny/resolve/main/model.safetensors", "bytes=5000-");
  EXPECT_EQ(r.status, 416);
  EXPECT_EQ(header_of(r, "Content-Range"), "bytes */5000");
  EXPECT_FALSE(r.fd.valid());
}

TEST_F(ServeHandler, ErrorsCarryHubCodes) {
  EXPECT_EQ(header_of(get("/org/none/resolve/main/config.json"), "X-Error-Code"), "RepoNotFound");
  EXPECT_EQ(header_of(get("/org/tiny/resolve/dev/config.json"), "X-Error-Code"),
            "RevisionNotFound");
  Reply r = get("/org/tiny/resolve/main/sub");  // a folder is not a file
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(header_of(r, "X-Error-Code"), "EntryNotFound");
  EXPECT_EQ(get("/org/tiny/resolve/main/..%2Fx").status, 400);
  EXPECT_EQ(get("/org/tiny/resolve/main/config.json", "", "PUT").status, 405);
  EXPECT_EQ(get("/org/tiny/resolve/main/config.json", "", "POST").status, 405);
  EXPECT_EQ(get("/api/models/org/tiny/tree/main", "", "POST").status, 405);
}

TEST_F(ServeHandler, TreePagesWithAbsoluteNextLinks) {
  Reply r = get("/api/models/org/tiny/tree/main?recursive=true");
  auto page = nlohmann::json::parse(r.body);
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0]["path"], "config.json");
  EXPECT_EQ(page[1]["path"], "model.safetensors");
  EXPECT_EQ(page[1]["oid"], lfs_pointer_oid(sha256_hex(std::string(5000, 'w')), 5000));
  EXPECT_EQ(header_of(r, "Link"),
            "<http://mirror.local:8080/api/models/org/tiny/tree/"
            "main?recursive=true&expand=false&cursor=2>; rel=\"next\"");
  Request hostile{"GET", "/api/models/org/tiny/tree/main?recursive=true", "evil.com/x?", "", "",
                  ""};
  EXPECT_EQ(header_of(handler->handle(hostile), "Link").rfind("<http://127.0.0.1:9/", 0), 0u);
  r = get("/api/models/org/tiny/tree/main?recursive=true&cursor=4");
  page = nlohmann::json::parse(r.body);
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0]["path"], "sub/deep/x.txt");
  EXPECT_EQ(header_of(r, "Link"), "");
  r = get("/api/models/org/tiny/tree/main/sub");
  EXPECT_EQ(nlohmann::json::parse(r.body)[0]["path"], "sub/deep");
  EXPECT_EQ(header_of(get("/api/models/org/tiny/tree/main/nope"), "X-Error-Code"), "EntryNotFound");
}

TEST_F(ServeHandler, PathsInfoAcceptsJsonAndForms) {
  Request req{"POST", "/api/models/org/tiny/paths-info/main",
              "",     "",
              "",     R"({"paths": ["sub/deep/x.txt", "sub", "missing"], "expand": true})"};
  auto doc = nlohmann::json::parse(handler->handle(req).body);
  ASSERT_EQ(doc.size(), 2u);
  EXPECT_EQ(doc[0]["type"], "directory");
  EXPECT_EQ(doc[1]["oid"], git_blob_sha1_hex("hello\n"));
  EXPECT_EQ(doc[1]["lastCommit"]["id"], k_commit);
  req.body = "paths=config.json&paths=model.safetensors";
  doc = nlohmann::json::parse(handler->handle(req).body);
  ASSERT_EQ(doc.size(), 2u);
  EXPECT_EQ(doc[1]["lfs"]["size"], 5000);
  req.body = "[1,2]";
  EXPECT_EQ(handler->handle(req).status, 400);
}

TEST_F(ServeHandler, TokensGuardEverythingButHealth) {
  access.add_token("sekrit-token");
  EXPECT_EQ(get("/org/tiny/resolve/main/config.json").status, 401);
  EXPECT_EQ(get("/metrics").status, 401);
  EXPECT_EQ(get("/health").status, 200);
  Request req{"GET", "/org/tiny/resolve/main/config.json", "", "", "Bearer sekrit-token", ""};
  EXPECT_EQ(handler->handle(req).status, 200);
}

TEST_F(ServeHandler, BlobThatIsNotItsContentIsRefused) {
  std::string blob =
      catalog.layout().blob_path(RepoType::model, "org/tiny", git_blob_sha1_hex("hello\n"));
  ASSERT_EQ(::unlink(blob.c_str()), 0);
  std::ofstream(blob) << "HELLO\n";
  Reply r = get("/org/tiny/resolve/main/sub/deep/x.txt");
  EXPECT_EQ(r.status, 500);
  EXPECT_FALSE(r.fd.valid());
  std::ofstream(blob) << "hello\n";  // repaired in place: a new inode identity, hashed again
  EXPECT_EQ(get("/org/tiny/resolve/main/sub/deep/x.txt").status, 200);
}

}  // namespace
}  // namespace mb::serve
