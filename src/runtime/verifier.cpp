#include "runtime/verifier.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <chrono>
#include <cmath>
#include <exception>
#include <new>
#include <set>

#include "runtime/confined.hpp"
#include "runtime/consistency.hpp"
#include "runtime/memory.hpp"
#include "runtime/model_scan.hpp"
#include "runtime/probe/decoder_probe.hpp"
#include "store/layout.hpp"
#include "verify/integrity.hpp"

namespace mb::runtime {

namespace {

double ms_since(const Clock& clock, Clock::TimePoint start) {
  return std::chrono::duration<double, std::milli>(clock.now() - start).count();
}

void set_error(ModelReport& r, const std::string& check, const Error& e) {
  r.error = ModelError{check, e.message, e.hint};
}

// Check 1, through the same engine as `modelbake verify`.
bool check_integrity(const VerifyRoot& root, const LockedModel& m, const VerifierOptions& opts,
                     ModelReport& r) {
  verify::VerifyOptions vo;
  vo.threads = opts.threads;
  vo.models = {m.name};
  vo.fix_hint = root.kind == RootKind::cache ? "modelbake fetch --locked"
                                             : "rebuild the bundle with modelbake export";
  auto rep = root.kind == RootKind::flat_bundle
                 ? verify::verify_flat_dir(root.model_dir(m), m, vo)
                 : verify::verify_cache(CacheLayout(root.path), root.lock, vo);
  if (!rep.ok()) {
    set_error(r, "integrity", rep.error());
    return false;
  }
  r.files_checked = rep->files_checked;
  for (const auto& f : rep->findings) {
    if (f.model != m.name) continue;
    r.error = ModelError{"integrity", f.message, f.fix};
    return false;
  }
  return true;
}

// `runtime_bytes`: what inference allocates beyond the mapped weights (a decoder's KV cache
// and activations), counted only when --infer will run it.
bool check_memory(const ModelScan& scan, const VerifierOptions& opts, uint64_t runtime_bytes,
                  ModelReport& r) {
  if (runtime_bytes > 0) {
    r.memory.needed += runtime_bytes;
    r.memory.by_dtype["kv cache + activations"] += runtime_bytes;
  }
  for (const WeightFile* w : scan.primary()) {
    r.weights_format = w->format;
    r.memory.needed += w->tensor_bytes;
    if (w->format == "pytorch") {
      r.memory.by_dtype["pytorch storages"] += w->tensor_bytes;
    } else {
      for (const auto& [dtype, n] : bytes_by_dtype(w->tensors)) r.memory.by_dtype[dtype] += n;
    }
  }
  MemoryAvailability avail = probe_memory(opts.sys_root);
  r.memory.available = avail.available;
  r.memory.available_source = avail.source;
  r.memory.limit = opts.max_memory;
  std::string by_dtype;
  for (const auto& [dtype, n] : r.memory.by_dtype) {
    by_dtype += (by_dtype.empty() ? "" : ", ") + dtype + " " + format_size(n);
  }
  const std::string needed =
      fmt::format("loading needs {} bytes ({}{})", r.memory.needed, format_size(r.memory.needed),
                  by_dtype.empty() ? "" : ": " + by_dtype);
  if (opts.max_memory && r.memory.needed > *opts.max_memory) {
    r.error = ModelError{"memory",
                         fmt::format("{} but --max-memory is {} bytes ({})", needed,
                                     *opts.max_memory, format_size(*opts.max_memory)),
                         "raise --max-memory or use smaller (quantized) weights"};
    return false;
  }
  if (avail.available && r.memory.needed > *avail.available) {
    r.error = ModelError{"memory",
                         fmt::format("{} but only {} bytes ({}) are available: {}", needed,
                                     *avail.available, format_size(*avail.available), avail.source),
                         "give the container more memory or use smaller weights"};
    return false;
  }
  return true;
}

void apply_probe(const infer::ProbeResult& p, ModelReport& r) {
  r.load_ms += p.load_ms;
  if (!p.supported) {
    std::string arch = p.architecture.empty() ? r.architecture : p.architecture;
    r.inference = "unsupported architecture " + (arch.empty() ? std::string("(unknown)") : arch);
    if (!p.unsupported_reason.empty()) r.inference += " (" + p.unsupported_reason + ")";
    return;
  }
  r.infer_ms = p.infer_ms;
  r.probe = ProbeReport{p.probe_text,       p.token_ids,      p.output_kind,    p.output,
                        p.pooling,          p.normalized,     p.top_label,      p.weight_types,
                        p.generated_ids,    p.generated_text, p.first_token_ms, p.tokens_per_s,
                        p.peak_rss_bytes,   p.onnx_file,      p.onnx_status,    p.onnx_output,
                        p.onnx_max_abs_diff};
  std::string problem;
  if (!p.expectation_failures.empty()) problem = p.expectation_failures.front();
  for (size_t i = 0; problem.empty() && i < p.output.size(); ++i) {
    if (!std::isfinite(p.output[i]))
      problem = "output element " + std::to_string(i) + " is not finite";
  }
  if (problem.empty() && p.output.empty()) problem = "the probe produced no output";
  if (p.output_kind == "embedding") {
    if (problem.empty() && r.embedding_dimension && *r.embedding_dimension != p.output.size()) {
      problem = fmt::format("embedding has {} values but the model declares {}", p.output.size(),
                            *r.embedding_dimension);
    }
    r.embedding_dimension = p.output.size();
  }
  if (!problem.empty()) {
    r.inference = "failed";
    r.error =
        ModelError{"inference", problem, "the weights or the model's expect: block are wrong"};
    return;
  }
  r.inference = "ok";
}

// A model folder that resolves out of ROOT (a planted link) is not this bundle's model, even
// when its files match the lock. A missing folder is left to the integrity check.
bool check_inside(const Confinement& conf, ModelReport& r) {
  struct stat st {};
  if (::lstat(r.dir.c_str(), &st) != 0) return true;
  auto real = conf.resolve(r.dir);
  if (!real.ok()) {
    set_error(r, "integrity", real.error());
    return false;
  }
  return true;
}

// refs/<revision> and the trees file are read by the integrity engine (src/verify), whose
// core open_read already refuses a FIFO without blocking; checked here first so the model's
// error names the planted file ("not a regular file") instead of a missing ref.
bool check_hub_metadata(const VerifyRoot& root, const LockedModel& m, ModelReport& r) {
  if (root.kind == RootKind::flat_bundle) return true;
  CacheLayout cache(root.path);
  std::vector<std::string> paths = {cache.trees_file(m.type, m.repo, m.commit)};
  if (m.revision != m.commit) paths.push_back(cache.ref_path(m.type, m.repo, m.revision));
  for (const auto& p : paths) {
    if (Status s = regular_or_absent(p); !s.ok()) {
      set_error(r, "integrity", s.error());
      return false;
    }
  }
  return true;
}

void run_checks(const VerifyRoot& root, const LockedModel& m, const VerifierOptions& opts,
                const Clock& clock, const ProbeFn& probe, const infer::ModelFiles& files,
                ModelReport& r) {
  if (!check_hub_metadata(root, m, r) || !check_integrity(root, m, opts, r)) return;

  auto start = clock.now();
  auto scan = scan_model(files, m);
  if (!scan.ok()) {
    set_error(r, "structure", scan.error());
    return;
  }
  r.unchecked_files = scan->unchecked;
  if (Status s = check_finite(files, *scan, FiniteScan::sampled); !s.ok()) {
    set_error(r, "weights", s.error());
    return;
  }
  auto cons = check_consistency(r.dir, *scan);
  if (!cons.ok()) {
    set_error(r, "consistency", cons.error());
    return;
  }
  r.architecture = cons->architecture;
  r.checked = cons->checked;
  r.embedding_dimension = cons->embedding_dimension;
  // Classifiers and causal LMs output logits, not an embedding (a GGUF names its
  // architecture as llama.cpp does).
  for (const std::string head : {"ForSequenceClassification", "ForCausalLM"})
    if (r.architecture.size() > head.size() && r.architecture.ends_with(head))
      r.embedding_dimension.reset();
  if ((r.architecture == "llama" || r.architecture == "qwen2") &&
      !infer::gguf_model_file(files).empty())
    r.embedding_dimension.reset();
  r.load_ms = ms_since(clock, start);
  const uint64_t runtime_bytes = opts.infer ? infer::decoder_probe_bytes(files, m.expect_json) : 0;
  if (!check_memory(*scan, opts, runtime_bytes, r)) return;
  if (opts.infer) {
    start = clock.now();
    if (Status s = check_finite(files, *scan, FiniteScan::full); !s.ok()) {
      set_error(r, "weights", s.error());
      return;
    }
    r.load_ms += ms_since(clock, start);
    auto res = probe(files, m.expect_json);
    if (!res.ok()) {
      r.inference = "failed";
      set_error(r, "inference", res.error());
      return;
    }
    apply_probe(*res, r);
    if (r.error) return;
  }
  r.ready = true;
}

// What a report says of the model whatever happens to its checks.
ModelReport report_for(const VerifyRoot& root, const LockedModel& m) {
  ModelReport r;
  r.name = m.name;
  r.repo = m.repo;
  r.revision = m.revision;
  r.commit = m.commit;
  r.dir = root.model_dir(m);
  r.bytes = m.total_bytes();
  return r;
}

ModelReport verify_model(const VerifyRoot& root, const Confinement& conf, const LockedModel& m,
                         const VerifierOptions& opts, const Clock& clock, const ProbeFn& probe) {
  ModelReport r = report_for(root, m);
  r.inference = opts.infer ? "not run" : "not requested";
  if (!check_inside(conf, r)) return r;
  std::set<std::string> locked;
  for (const auto& f : m.files) locked.insert(f.path);
  infer::ModelFiles files(r.dir, conf, std::move(locked));
  run_checks(root, m, opts, clock, probe, files, r);
  r.unverified_files.assign(files.unverified().begin(), files.unverified().end());
  return r;
}

// Every hostile input has its own clear error; this is the net under them, so that one
// model's unforeseen failure (an exception, an allocation the machine refuses) is that
// model's failure and the others are still checked and reported.
ModelReport verify_model_guarded(const VerifyRoot& root, const Confinement& conf,
                                 const LockedModel& m, const VerifierOptions& opts,
                                 const Clock& clock, const ProbeFn& probe) {
  std::string what;
  try {
    return verify_model(root, conf, m, opts, clock, probe);
  } catch (const std::bad_alloc&) {
    what = "out of memory";
  } catch (const std::exception& e) {
    what = e.what();
  }
  ModelReport r = report_for(root, m);
  r.inference = opts.infer ? "failed" : "not requested";
  r.error =
      ModelError{"internal", "checking this model failed unexpectedly: " + what.substr(0, 200),
                 "a modelbake-verify bug or a hostile file; please report it"};
  return r;
}

}  // namespace

RunReport run_verifier(const VerifyRoot& root, const VerifierOptions& options, const Clock& clock,
                       const ProbeFn& probe) {
  RunReport report;
  report.root = root.path;
  report.kind = root.kind;
  report.lock_path = root.lock_path;
  auto conf = Confinement::of(root.path);
  for (const auto& m : root.lock.models) {
    if (!conf.ok()) {  // ROOT vanished since open_root
      ModelReport r;
      r.name = m.name;
      r.error = ModelError{"integrity", conf.error().message, conf.error().hint};
      report.models.push_back(std::move(r));
      continue;
    }
    report.models.push_back(verify_model_guarded(root, *conf, m, options, clock, probe));
  }
  return report;
}

}  // namespace mb::runtime
