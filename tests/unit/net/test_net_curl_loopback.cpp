// CurlTransport against a real loopback HTTP/1.1 server (a small Python script started by
// the test, port chosen by the OS): connection reuse, Range, HEAD, no redirect following,
// token scoping, sink aborts and concurrency. No timing assertions.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include "net/curl_transport.hpp"
#include "support/temp_dir.hpp"

namespace mb::net {
namespace {

const char* const k_server_script =
    R"PY(# Tiny HTTP/1.1 keep-alive server with Range support for test_net_curl_loopback.cpp.
# Serves files from argv[1] on 127.0.0.1 (port chosen by the OS, printed on stdout).
import http.server
import os
import socketserver
import sys

ROOT = sys.argv[1]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self.respond(False)

    def do_GET(self):
        self.respond(True)

    def simple(self, status, body, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def respond(self, with_body):
        if self.path == "/redirect":
            return self.simple(302, b"", [("Location", "/data.bin")])
        name = self.path.lstrip("/")
        path = os.path.join(ROOT, name)
        if "/" in name or not os.path.isfile(path):
            return self.simple(404, b"missing", [("X-Error-Code", "EntryNotFound")])
        data = open(path, "rb").read()
        status, start, end = 200, 0, len(data) - 1
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            first, last = rng[6:].split("-")
            start, end, status = int(first), int(last) if last else len(data) - 1, 206
        extra = [("X-Saw-Auth", self.headers.get("Authorization", "none")),
                 ("X-Saw-Agent", self.headers.get("User-Agent", "none"))]
        if status == 206:
            extra.append(("Content-Range", "bytes %d-%d/%d" % (start, end, len(data))))
        self.simple(status, data[start:end + 1], extra)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients that abort on purpose (sink errors) are not errors here


server = Server(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
)PY";

class LoopbackServer {
 public:
  explicit LoopbackServer(const std::string& root) {
    std::string script = root + "/server.py";
    std::ofstream(script) << k_server_script;
    int fds[2];
    if (::pipe(fds) != 0) return;
    m_pid = ::fork();
    if (m_pid == 0) {
      ::dup2(fds[1], 1);
      ::close(fds[0]);
      ::close(fds[1]);
      ::execl("/usr/bin/python3", "python3", script.c_str(), root.c_str(), nullptr);
      ::_exit(127);
    }
    ::close(fds[1]);
    FILE* out = ::fdopen(fds[0], "r");
    if (out != nullptr) {
      if (std::fscanf(out, "%d", &m_port) != 1) m_port = 0;
      std::fclose(out);
    }
  }
  ~LoopbackServer() {
    if (m_pid > 0) {
      ::kill(m_pid, SIGTERM);
      ::waitpid(m_pid, nullptr, 0);
    }
  }
  int port() const { return m_port; }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(m_port) + path;
  }

 private:
  pid_t m_pid = -1;
  int m_port = 0;
};

class CollectSink : public BodySink {
 public:
  Status on_response(int status, const Headers& headers) override {
    statuses.push_back(status);
    if (reject_full_body && status == 200) {
      return fail(ErrorCategory::transient, "server ignored Range");
    }
    content_range = headers.get("Content-Range").value_or("");
    return {};
  }
  Status on_data(const char* data, size_t size) override {
    body.append(data, size);
    if (fail_after && body.size() >= fail_after) return fail(ErrorCategory::io, "disk full");
    return {};
  }
  std::vector<int> statuses;
  std::string body;
  std::string content_range;
  bool reject_full_body = false;
  size_t fail_after = 0;
};

class CurlLoopback : public ::testing::Test {
 protected:
  // One server process for the whole suite (starting Python is the slow part).
  static void SetUpTestSuite() {
    dir = new test::TempDir();
    data.resize(300'000);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 131) % 251);
    std::ofstream(dir->path() + "/data.bin", std::ios::binary) << data;
    server = new LoopbackServer(dir->path());
  }
  static void TearDownTestSuite() {
    delete server;
    delete dir;
  }
  void SetUp() override {
    ASSERT_GT(server->port(), 0) << "loopback server did not start";
    CurlOptions opts;
    opts.user_agent = "modelbake/test";
    auto t = CurlTransport::create(opts);
    ASSERT_TRUE(t.ok()) << t.error().message;
    transport = std::move(t).value();
  }
  Request get(const std::string& path) {
    Request r;
    r.url = server->url(path);
    return r;
  }

  static inline test::TempDir* dir = nullptr;
  static inline std::string data;
  static inline LoopbackServer* server = nullptr;
  std::unique_ptr<CurlTransport> transport;
};

TEST_F(CurlLoopback, ReusesTheConnectionAcrossRequests) {
  for (int i = 0; i < 5; ++i) {
    auto r = transport->perform(get("/data.bin"));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, data);
    EXPECT_EQ(r->headers.get("x-saw-agent").value(), "modelbake/test");
  }
  EXPECT_EQ(transport->stats().transfers, 5u);
  EXPECT_EQ(transport->stats().new_connections, 1u);
}

TEST_F(CurlLoopback, RangeRequestStreamsToSink) {
  Request r = get("/data.bin");
  r.range = ByteRange{1000, 200'999};
  CollectSink sink;
  auto res = transport->perform(r, &sink);
  ASSERT_TRUE(res.ok()) << res.error().message;
  EXPECT_EQ(res->status, 206);
  EXPECT_EQ(sink.statuses, std::vector<int>{206});
  EXPECT_EQ(sink.content_range, "bytes 1000-200999/300000");
  EXPECT_EQ(sink.body, data.substr(1000, 200'000));
  EXPECT_TRUE(res->body.empty());
  EXPECT_EQ(res->body_bytes, 200'000u);
}

TEST_F(CurlLoopback, SinkErrorsAbortTheTransfer) {
  CollectSink reject;
  reject.reject_full_body = true;
  auto r = transport->perform(get("/data.bin"), &reject);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "server ignored Range");
  EXPECT_TRUE(reject.body.empty());

  CollectSink full;
  full.fail_after = 1;
  auto d = transport->perform(get("/data.bin"), &full);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().category, ErrorCategory::io);
  EXPECT_EQ(d.error().message, "disk full");
  // The transport still works afterwards.
  EXPECT_TRUE(transport->perform(get("/data.bin")).ok());
}

TEST_F(CurlLoopback, HeadRedirectAndErrorStatuses) {
  Request head = get("/data.bin");
  head.method = Method::head;
  auto h = transport->perform(head);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(h->headers.get("content-length").value(), "300000");
  EXPECT_TRUE(h->body.empty());

  auto redirect = transport->perform(get("/redirect"));
  ASSERT_TRUE(redirect.ok());
  EXPECT_EQ(redirect->status, 302);  // not followed
  EXPECT_EQ(redirect->headers.get("Location").value(), "/data.bin");

  CollectSink sink;
  auto missing = transport->perform(get("/missing"), &sink);
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(missing->body, "missing");
  EXPECT_EQ(missing->headers.get("X-Error-Code").value(), "EntryNotFound");
  EXPECT_TRUE(sink.statuses.empty());  // error bodies never reach a sink
}

TEST_F(CurlLoopback, TokenOnlyForAllowedAuthorityAndBodyCap) {
  Request r = get("/data.bin");
  r.method = Method::head;
  r.bearer = BearerToken{"hf_loopbacktoken", "http://127.0.0.1:" + std::to_string(server->port())};
  EXPECT_EQ(transport->perform(r)->headers.get("X-Saw-Auth").value(), "Bearer hf_loopbacktoken");
  r.bearer->allowed_scope =
      "https://127.0.0.1:" + std::to_string(server->port());  // scheme differs
  EXPECT_EQ(transport->perform(r)->headers.get("X-Saw-Auth").value(), "none");

  Request capped = get("/data.bin");
  capped.max_body_bytes = 1000;
  auto c = transport->perform(capped);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().category, ErrorCategory::permanent);
}

TEST_F(CurlLoopback, ConcurrentCallersShareTheTransport) {
  std::vector<std::thread> threads;
  std::vector<std::string> bodies(6);
  for (size_t i = 0; i < bodies.size(); ++i) {
    threads.emplace_back([&, i] {
      Request r = get("/data.bin");
      r.range = ByteRange{i * 1000, i * 1000 + 4999};
      auto res = transport->perform(r);
      if (res.ok()) bodies[i] = res->body;
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < bodies.size(); ++i) EXPECT_EQ(bodies[i], data.substr(i * 1000, 5000));
}

TEST_F(CurlLoopback, RefusedConnectionIsTransientAndBadSchemePermanent) {
  // Nothing listens on port 1 (privileged, unused).
  Request r;
  r.url = "http://127.0.0.1:1/";
  auto e = transport->perform(r);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().category, ErrorCategory::transient);
  r.url = "ftp://127.0.0.1/x";
  auto p = transport->perform(r);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().category, ErrorCategory::permanent);
}

}  // namespace
}  // namespace mb::net
