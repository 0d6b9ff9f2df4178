#include "runtime/probe/expect.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "runtime/formats/json_fields.hpp"

namespace mb::infer {

namespace {

using nlohmann::json;

Error bad(const std::string& what) {
  return make_error(ErrorCategory::usage, "expect: " + what,
                    "see docs/inference.md for the expect schema");
}

Result<std::string> text_field(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || !j[key].is_string() || j[key].get<std::string>().empty())
    return bad(where + "." + key + " must be a non-empty string");
  return j[key].get<std::string>();
}

Result<std::vector<CosinePair>> pairs(const json& j, const char* key, const char* bound_key) {
  if (!j.is_array()) return bad(std::string(key) + " must be a list of {a, b, " + bound_key + "}");
  std::vector<CosinePair> out;
  for (const auto& item : j) {
    if (!item.is_object()) return bad(std::string(key) + " entries must be objects");
    for (auto& [k, v] : item.items())
      if (k != "a" && k != "b" && k != bound_key)
        return bad(std::string(key) + ": unknown key '" + k + "'");
    CosinePair p;
    MB_ASSIGN(p.a, text_field(item, "a", key));
    MB_ASSIGN(p.b, text_field(item, "b", key));
    if (!item.contains(bound_key) || !item[bound_key].is_number() ||
        std::fabs(item[bound_key].get<double>()) > 1)
      return bad(std::string(key) + "." + bound_key + " must be a number in [-1, 1]");
    p.bound = item[bound_key].get<double>();
    out.push_back(std::move(p));
  }
  return out;
}

// Six significant digits, as printf's %.6g (named so it does not shadow the fmt namespace).
std::string sig6(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

Result<Expectations> parse_expectations(const std::string& text) {
  Expectations e;
  if (text.empty()) return e;
  json j = parse_json(text);
  if (j.is_null()) return e;
  if (!j.is_object()) return bad("must be a JSON object");
  for (auto& [k, v] : j.items()) {
    if (k == "dim") {
      if (!v.is_number_integer() || v.get<int64_t>() <= 0 || v.get<int64_t>() > (1 << 24))
        return bad("dim must be a positive integer");
      e.dim = v.get<int>();
    } else if (k == "probe_text") {
      MB_ASSIGN(e.probe_text, text_field(j, "probe_text", "expect"));
    } else if (k == "similar") {
      MB_ASSIGN(e.similar, pairs(v, "similar", "min_cosine"));
    } else if (k == "dissimilar") {
      MB_ASSIGN(e.dissimilar, pairs(v, "dissimilar", "max_cosine"));
    } else if (k == "top_label") {
      MB_ASSIGN(e.top_label, text_field(j, "top_label", "expect"));
    } else if (k == "reference") {
      if (!v.is_object()) return bad("reference must be {text, values, tolerance}");
      for (auto& [rk, rv] : v.items())
        if (rk != "text" && rk != "values" && rk != "tolerance")
          return bad("reference: unknown key '" + rk + "'");
      MB_ASSIGN(e.reference_text, text_field(v, "text", "reference"));
      if (!v.contains("values") || !v["values"].is_array() || v["values"].empty())
        return bad("reference.values must be a non-empty list of numbers");
      for (const auto& x : v["values"]) {
        if (!x.is_number()) return bad("reference.values must be numbers");
        e.reference_values.push_back(x.get<double>());
      }
      if (v.contains("tolerance")) {
        if (!v["tolerance"].is_number() || !(v["tolerance"].get<double>() >= 0))
          return bad("reference.tolerance must be a non-negative number");
        e.tolerance = v["tolerance"].get<double>();
      }
      e.has_reference = true;
    } else if (k == "generated_ids") {
      if (!v.is_array() || v.empty())
        return bad("generated_ids must be a non-empty list of token ids");
      std::vector<int32_t> ids;
      for (const auto& x : v) {
        if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() > INT32_MAX)
          return bad("generated_ids must be non-negative integers");
        ids.push_back(x.get<int32_t>());
      }
      e.generated_ids = std::move(ids);
    } else if (k == "generated_text") {
      if (!v.is_string()) return bad("generated_text must be a string");
      e.generated_text = v.get<std::string>();
    } else if (k == "new_tokens") {
      if (!v.is_number_integer() || v.get<int64_t>() <= 0 || v.get<int64_t>() > 256)
        return bad("new_tokens must be an integer in 1..256");
      e.new_tokens = v.get<int>();
      e.has_new_tokens = true;
    } else {
      return bad("unknown key '" + k + "'");
    }
  }
  if (e.probe_text.empty() && e.has_reference) e.probe_text = e.reference_text;
  return e;
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  if (na == 0 || nb == 0) return 0;
  return dot / std::sqrt(na * nb);
}

Status check_applicable(const Expectations& e, bool decoder) {
  auto refuse = [](const char* key, const char* why) {
    return fail(ErrorCategory::usage, std::string("expect.") + key + why,
                "remove the key from the model's expect: block (docs/inference.md)");
  };
  if (decoder) {
    const char* why = " does not apply to a decoder LLM: its output is next-token logits";
    if (!e.similar.empty()) return refuse("similar", why);
    if (!e.dissimilar.empty()) return refuse("dissimilar", why);
    if (!e.top_label.empty()) return refuse("top_label", why);
    return {};
  }
  const char* why = " applies only to decoder LLMs; this model is an encoder";
  if (e.generated_ids) return refuse("generated_ids", why);
  if (e.generated_text) return refuse("generated_text", why);
  if (e.has_new_tokens) return refuse("new_tokens", why);
  return {};
}

void check_generation(const Expectations& e, ProbeResult& r) {
  auto join = [](const std::vector<int32_t>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    return s + "]";
  };
  if (e.generated_ids && *e.generated_ids != r.generated_ids)
    r.expectation_failures.push_back("expect.generated_ids is " + join(*e.generated_ids) +
                                     " but the model generated " + join(r.generated_ids));
  if (e.generated_text && *e.generated_text != r.generated_text)
    r.expectation_failures.push_back("expect.generated_text is \"" + *e.generated_text +
                                     "\" but the model generated \"" + r.generated_text + "\"");
}

Status check_expectations(const Expectations& e, ProbeResult& r, const EmbedFn& embed) {
  auto& out = r.expectation_failures;
  if (e.dim && *e.dim != r.dimension)
    out.push_back(
        fmt::format("expect.dim is {} but the output has {} values", *e.dim, r.dimension));
  if (!e.top_label.empty() && r.top_label != e.top_label)
    out.push_back("expect.top_label is '" + e.top_label + "' but the model predicts '" +
                  r.top_label + "'");
  if (e.has_reference) {
    std::vector<float> got = r.output;
    if (e.reference_text != r.probe_text) {
      MB_ASSIGN(got, embed(e.reference_text));
    }
    if (got.size() < e.reference_values.size()) {
      out.push_back(fmt::format("expect.reference has {} values but the output has only {}",
                                e.reference_values.size(), got.size()));
    } else {
      for (size_t i = 0; i < e.reference_values.size(); ++i) {
        const double diff = std::fabs(got[i] - e.reference_values[i]);
        if (!(diff <= e.tolerance)) {
          out.push_back(fmt::format("expect.reference value {} is {}, expected {} +- {}", i,
                                    sig6(got[i]), sig6(e.reference_values[i]), sig6(e.tolerance)));
          break;
        }
      }
    }
  }
  auto check_pairs = [&](const std::vector<CosinePair>& ps, bool similar) -> Status {
    for (const auto& p : ps) {
      MB_ASSIGN(std::vector<float> a, embed(p.a));
      MB_ASSIGN(std::vector<float> b, embed(p.b));
      const double c = cosine(a, b);
      if (similar ? !(c >= p.bound) : !(c <= p.bound))
        out.push_back(std::string("cosine(\"") + p.a + "\", \"" + p.b + "\") is " + sig6(c) +
                      ", expected " + (similar ? ">= " : "<= ") + sig6(p.bound));
    }
    return {};
  };
  MB_TRY(check_pairs(e.similar, true));
  MB_TRY(check_pairs(e.dissimilar, false));
  return {};
}

}  // namespace mb::infer
