#include <gtest/gtest.h>

#include "core/log.hpp"
#include "net/transport.hpp"
#include "net/url.hpp"

namespace mb::net {
namespace {

TEST(NetUrl, ParsesSchemeHostPortTarget) {
  auto u = parse_url("HTTPS://Hub.Example.COM/api/models?x=1#frag");
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->host, "hub.example.com");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->target, "/api/models?x=1");
  EXPECT_EQ(u->path(), "/api/models");
  EXPECT_EQ(u->query(), "x=1");
  EXPECT_EQ(u->authority(), "hub.example.com:443");
  EXPECT_EQ(u->origin(), "https://hub.example.com");

  auto p = parse_url("http://127.0.0.1:8080");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->port, 8080);
  EXPECT_EQ(p->target, "/");
  EXPECT_EQ(p->origin(), "http://127.0.0.1:8080");
}

TEST(NetUrl, ParsesIpv6LiteralsAndUserinfo) {
  auto u = parse_url("http://user:pw@[::1]:9000/x");
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ(u->host, "[::1]");
  EXPECT_EQ(u->port, 9000);
  EXPECT_EQ(u->userinfo, "user:pw");
  EXPECT_EQ(u->authority(), "[::1]:9000");
  auto v = parse_url("https://[2001:DB8::1]/");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->host, "[2001:db8::1]");
  EXPECT_EQ(v->port, 443);
}

TEST(NetUrl, RejectsBadUrls) {
  for (const char* bad :
       {"ftp://x/y", "file:///etc/passwd", "http://", "http://[::1/x", "http://host:99999/",
        "http://host:12ab/", "http://ho st/", "http://host/a b", "huggingface.co/x",
        "http://[zz::1]/", "http://a:1:2/"}) {
    EXPECT_FALSE(parse_url(bad).ok()) << bad;
  }
}

TEST(NetUrl, SameOriginComparesSchemeHostAndEffectivePort) {
  auto a = parse_url("https://hub.test/x").value();
  EXPECT_TRUE(same_origin(a, parse_url("https://HUB.test:443/y").value()));
  EXPECT_FALSE(same_origin(a, parse_url("http://hub.test/x").value()));
  EXPECT_FALSE(same_origin(a, parse_url("https://hub.test:8443/x").value()));
  EXPECT_FALSE(same_origin(a, parse_url("https://cdn.hub.test/x").value()));
}

TEST(NetUrl, ResolvesRedirectLocations) {
  const std::string base = "http://hub:8080/org/old/resolve/main/a/b.json?x=1";
  EXPECT_EQ(resolve_reference(base, "/org/new/resolve/main/a/b.json").value(),
            "http://hub:8080/org/new/resolve/main/a/b.json");
  EXPECT_EQ(resolve_reference(base, "c.json").value(),
            "http://hub:8080/org/old/resolve/main/a/c.json");
  EXPECT_EQ(resolve_reference(base, "../../x?y=2").value(),
            "http://hub:8080/org/old/resolve/x?y=2");
  EXPECT_EQ(resolve_reference(base, "/a/../../b").value(), "http://hub:8080/b");
  EXPECT_EQ(resolve_reference(base, "//cdn.test/blob?sig=1").value(), "http://cdn.test/blob?sig=1");
  EXPECT_EQ(resolve_reference(base, "https://cdn.test:444/o/../blob").value(),
            "https://cdn.test:444/blob");
  EXPECT_FALSE(resolve_reference(base, "file:///etc/passwd").ok());
  EXPECT_FALSE(resolve_reference(base, "/x\r\nSet-Cookie: a").ok());
  EXPECT_TRUE(is_relative_reference("/a/b"));
  EXPECT_TRUE(is_relative_reference("a?b"));
  EXPECT_FALSE(is_relative_reference("//host/a"));
  EXPECT_FALSE(is_relative_reference("https://host/a"));
}

TEST(NetUrl, PercentEncodingMatchesPythonQuote) {
  EXPECT_EQ(encode_revision("refs/pr/1"), "refs%2Fpr%2F1");
  EXPECT_EQ(encode_revision("v1.0-rc_2~x"), "v1.0-rc_2~x");
  EXPECT_EQ(encode_path("dir/sub dir/f+g#?.json"), "dir/sub%20dir/f%2Bg%23%3F.json");
  EXPECT_EQ(encode_path("caf\xc3\xa9.txt"), "caf%C3%A9.txt");
  EXPECT_EQ(percent_encode("a:b@c", ":"), "a:b%40c");
}

TEST(NetUrl, RedactsCredentialsAndSignatures) {
  std::string r = redact_url(
      "https://user:secretpw@cdn.test/blob?X-Amz-Signature=abcdef&X-Amz-Credential=AKIA&"
      "download=true&Signature=zzz&Key-Pair-Id=K1&Policy=pp");
  EXPECT_EQ(r.find("secretpw"), std::string::npos);
  EXPECT_EQ(r.find("abcdef"), std::string::npos);
  EXPECT_EQ(r.find("AKIA"), std::string::npos);
  EXPECT_EQ(r.find("zzz"), std::string::npos);
  EXPECT_EQ(r.find("pp"), std::string::npos);
  EXPECT_NE(r.find("download=true"), std::string::npos);
  EXPECT_NE(r.find("cdn.test/blob"), std::string::npos);
  EXPECT_EQ(redact_url("http://hub/x"), "http://hub/x");

  log::add_secret("hf_registeredtoken123");
  EXPECT_EQ(redact_url("http://hub/x?t=hf_registeredtoken123").find("hf_registeredtoken123"),
            std::string::npos);
}

TEST(NetHeaders, CaseInsensitiveMultiValue) {
  Headers h;
  h.add("Link", "<a>; rel=\"next\"");
  h.add("content-length", "12");
  h.add("LINK", "<b>; rel=\"last\"");
  EXPECT_EQ(h.get("Content-Length").value(), "12");
  EXPECT_EQ(h.get_all("link").size(), 2u);
  EXPECT_FALSE(h.get("ETag").has_value());
  h.set("link", "<c>");
  EXPECT_EQ(h.get_all("Link"), std::vector<std::string>{"<c>"});
  h.remove("CONTENT-LENGTH");
  EXPECT_FALSE(h.has("content-length"));
}

TEST(NetTransport, StatusCategories) {
  for (int s : {408, 425, 429, 500, 502, 503, 504}) {
    EXPECT_EQ(category_for_status(s), ErrorCategory::transient) << s;
  }
  EXPECT_EQ(category_for_status(401), ErrorCategory::auth);
  EXPECT_EQ(category_for_status(403), ErrorCategory::auth);
  for (int s : {400, 404, 410, 416, 302}) {
    EXPECT_EQ(category_for_status(s), ErrorCategory::permanent) << s;
  }
}

TEST(NetTransport, AuthorizationOnlyForAllowedAuthority) {
  Request r;
  r.bearer = BearerToken{"hf_abcdefgh", "https://hub.test:443"};
  r.url = "https://hub.test/api/models/x";
  EXPECT_EQ(authorization_for(r).value(), "Bearer hf_abcdefgh");
  r.url = "https://HUB.test:443/x";
  EXPECT_TRUE(authorization_for(r).has_value());
  r.url = "https://cdn.hub.test/x";
  EXPECT_FALSE(authorization_for(r).has_value());
  r.url = "https://hub.test:8443/x";
  EXPECT_FALSE(authorization_for(r).has_value());
  r.url = "http://hub.test/x";  // port 80 != 443
  EXPECT_FALSE(authorization_for(r).has_value());
}

// Issue 10.6: host and port matched but the scheme did not count, so a redirect or Link to
// http://hub.test:443/ would have carried the token in clear.
TEST(NetTransport, AuthorizationNeedsTheSameScheme) {
  Request r;
  r.bearer = BearerToken{"hf_abcdefgh", "https://hub.test:443"};
  r.url = "http://hub.test:443/api/models/x";
  EXPECT_FALSE(authorization_for(r).has_value());
  r.url = "HTTPS://hub.test:443/api/models/x";
  EXPECT_TRUE(authorization_for(r).has_value());
  r.bearer = BearerToken{"hf_abcdefgh", "http://mirror.test:8080"};
  r.url = "https://mirror.test:8080/x";
  EXPECT_FALSE(authorization_for(r).has_value());
  r.url = "http://mirror.test:8080/x";
  EXPECT_TRUE(authorization_for(r).has_value());
  Url u = parse_url("https://Hub.Test/x").value();
  EXPECT_EQ(u.credential_scope(), "https://hub.test:443");
  r.url = "https://hub.test.evil.com/x";
  EXPECT_FALSE(authorization_for(r).has_value());
}

TEST(NetTransport, ByteRangeHeader) {
  EXPECT_EQ((ByteRange{10, 19}).header_value(), "bytes=10-19");
  EXPECT_EQ((ByteRange{5, std::nullopt}).header_value(), "bytes=5-");
}

}  // namespace
}  // namespace mb::net
