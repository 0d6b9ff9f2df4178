#include "oci/auth.hpp"

#include <openssl/evp.h>

#include <cctype>
#include <nlohmann/json.hpp>

#include "core/file.hpp"
#include "core/log.hpp"
#include "core/text.hpp"

namespace mb::oci {

namespace {

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

class Scanner {
 public:
  explicit Scanner(std::string_view s) : m_s(s) {}
  void skip_ws() {
    while (m_pos < m_s.size() && (m_s[m_pos] == ' ' || m_s[m_pos] == '\t')) ++m_pos;
  }
  bool done() const { return m_pos >= m_s.size(); }
  char peek() const { return done() ? '\0' : m_s[m_pos]; }
  void advance() { ++m_pos; }
  size_t pos() const { return m_pos; }
  void seek(size_t p) { m_pos = p; }
  std::string token() {
    size_t start = m_pos;
    while (m_pos < m_s.size() && is_token_char(m_s[m_pos])) ++m_pos;
    return std::string(m_s.substr(start, m_pos - start));
  }
  // token68 values (e.g. base64 with trailing '=') of schemes without params.
  std::string token68() {
    size_t start = m_pos;
    while (m_pos < m_s.size() &&
           (is_token_char(m_s[m_pos]) || m_s[m_pos] == '/' || m_s[m_pos] == '='))
      ++m_pos;
    return std::string(m_s.substr(start, m_pos - start));
  }
  std::string until_separator() {
    size_t start = m_pos;
    while (m_pos < m_s.size() && m_s[m_pos] != ',' && m_s[m_pos] != ' ' && m_s[m_pos] != '\t')
      ++m_pos;
    return std::string(m_s.substr(start, m_pos - start));
  }
  std::optional<std::string> quoted() {
    if (peek() != '"') return std::nullopt;
    advance();
    std::string out;
    while (!done()) {
      char c = m_s[m_pos++];
      if (c == '"') return out;
      if (c == '\\' && !done()) c = m_s[m_pos++];
      out += c;
    }
    return std::nullopt;  // unterminated
  }

 private:
  std::string_view m_s;
  size_t m_pos = 0;
};

// Reads `name=value` at the scanner position; restores the position when it is not a param
// (then it is the next challenge's scheme).
bool read_param(Scanner& sc, Challenge& ch) {
  size_t start = sc.pos();
  std::string name = sc.token();
  sc.skip_ws();
  if (name.empty() || sc.peek() != '=') {
    sc.seek(start);
    return false;
  }
  sc.advance();
  sc.skip_ws();
  std::string value;
  if (sc.peek() == '"') {
    auto q = sc.quoted();
    if (!q) return false;
    value = *q;
  } else {
    // Lenient: servers send unquoted URLs (realm=https://...), so take everything up to the
    // next ',' or whitespace.
    value = sc.until_separator();
  }
  ch.params[ascii_lower(name)] = value;
  return true;
}

std::string normalise_registry_key(std::string_view key) {
  std::string k = ascii_lower(key);
  for (std::string_view scheme : {"https://", "http://"}) {
    if (k.rfind(scheme, 0) == 0) k = k.substr(scheme.size());
  }
  if (size_t slash = k.find('/'); slash != std::string::npos) k = k.substr(0, slash);
  if (k == "index.docker.io" || k == "registry-1.docker.io") k = "docker.io";
  return k;
}

}  // namespace

std::vector<Challenge> parse_www_authenticate(std::string_view header) {
  std::vector<Challenge> out;
  Scanner sc(header);
  while (true) {
    sc.skip_ws();
    while (sc.peek() == ',') {
      sc.advance();
      sc.skip_ws();
    }
    if (sc.done()) break;
    std::string scheme = sc.token();
    if (scheme.empty()) break;
    Challenge ch;
    ch.scheme = ascii_lower(scheme);
    sc.skip_ws();
    while (!sc.done()) {
      if (!read_param(sc, ch)) {
        // token68 form ("Negotiate abc==") or the next challenge's scheme.
        size_t before = sc.pos();
        std::string word = sc.token68();
        sc.skip_ws();
        if (word.empty() || sc.peek() != ',' || !ch.params.empty()) {
          sc.seek(before);
        }
        break;
      }
      sc.skip_ws();
      if (sc.peek() != ',') break;
      sc.advance();
      sc.skip_ws();
    }
    out.push_back(std::move(ch));
    if (!sc.done() && !is_token_char(sc.peek()) && sc.peek() != ',') break;
  }
  return out;
}

std::string base64_encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  std::string in;
  for (char c : text)
    if (c != '\n' && c != '\r' && c != ' ') in += c;
  if (in.size() % 4 != 0) return std::nullopt;
  if (in.empty()) return std::string();
  std::string out(in.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return std::nullopt;
  size_t pad = 0;
  if (in.back() == '=') ++pad;
  if (in.size() >= 2 && in[in.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

void register_secret(const Credentials& creds) {
  log::add_secret(creds.password);
  log::add_secret(creds.identity_token);
  if (!creds.password.empty())
    log::add_secret(base64_encode(creds.username + ":" + creds.password));
}

Result<std::optional<Credentials>> credentials_from_docker_config(std::string_view json_text,
                                                                  std::string_view registry,
                                                                  std::string_view source) {
  auto doc = nlohmann::json::parse(json_text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return fail(
        ErrorCategory::usage, std::string(source) + " is not valid JSON",
        "fix or remove the file, or set MODELBAKE_REGISTRY_USER and MODELBAKE_REGISTRY_PASSWORD");
  }
  auto auths = doc.find("auths");
  if (auths == doc.end() || !auths->is_object()) return std::optional<Credentials>();
  std::string want = normalise_registry_key(registry);
  for (auto it = auths->begin(); it != auths->end(); ++it) {
    if (normalise_registry_key(it.key()) != want || !it.value().is_object()) continue;
    const auto& entry = it.value();
    if (auto t = entry.find("identitytoken");
        t != entry.end() && t->is_string() && !t->get<std::string>().empty()) {
      return std::optional<Credentials>(Credentials{"", "", t->get<std::string>()});
    }
    if (auto a = entry.find("auth");
        a != entry.end() && a->is_string() && !a->get<std::string>().empty()) {
      auto decoded = base64_decode(a->get<std::string>());
      size_t colon = decoded ? decoded->find(':') : std::string::npos;
      if (!decoded || colon == std::string::npos) {
        return fail(ErrorCategory::usage,
                    "the \"auth\" entry for " + std::string(registry) + " in " +
                        std::string(source) + " is not base64 of user:password",
                    "run 'docker login' again or fix the entry");
      }
      return std::optional<Credentials>(
          Credentials{decoded->substr(0, colon), decoded->substr(colon + 1)});
    }
    auto u = entry.find("username");
    auto p = entry.find("password");
    if (u != entry.end() && p != entry.end() && u->is_string() && p->is_string()) {
      return std::optional<Credentials>(Credentials{u->get<std::string>(), p->get<std::string>()});
    }
  }
  return std::optional<Credentials>();
}

Result<AuthFileAnswer> parse_auth_file(std::string_view json_text, std::string_view registry,
                                       std::string_view source) {
  AuthFileAnswer answer;
  MB_ASSIGN(answer.stored, credentials_from_docker_config(json_text, registry, source));
  auto doc = nlohmann::json::parse(json_text, nullptr, false);  // valid: checked above
  std::string want = normalise_registry_key(registry);
  if (auto helpers = doc.find("credHelpers"); helpers != doc.end() && helpers->is_object()) {
    for (auto it = helpers->begin(); it != helpers->end(); ++it) {
      if (normalise_registry_key(it.key()) == want && it.value().is_string())
        answer.helper = it.value().get<std::string>();
    }
  }
  if (auto store = doc.find("credsStore");
      answer.helper.empty() && store != doc.end() && store->is_string()) {
    answer.helper = store->get<std::string>();
  }
  return answer;
}

}  // namespace mb::oci
