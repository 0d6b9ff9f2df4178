#include "runtime/consistency.hpp"

#include <fmt/format.h>

#include <map>
#include <set>

#include "core/paths.hpp"

namespace mb::runtime {

namespace {

using nlohmann::json;

Failure inconsistent(const std::string& what) {
  return fail(ErrorCategory::integrity, "consistency: " + what,
              "the files do not belong to one model; re-lock and fetch the repo again");
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// First of `keys` that holds a non-negative integer.
std::optional<std::pair<std::string, uint64_t>> config_int(
    const json& cfg, std::initializer_list<const char*> keys) {
  for (const char* k : keys) {
    auto it = cfg.find(k);
    // Parsed JSON holds non-negative integers as unsigned; built documents may hold signed.
    if (it != cfg.end() && it->is_number_integer() &&
        (it->is_number_unsigned() || it->get<int64_t>() >= 0)) {
      return std::make_pair(std::string(k), it->get<uint64_t>());
    }
  }
  return std::nullopt;
}

const TensorInfo* find_suffix(const std::vector<const TensorInfo*>& tensors,
                              std::initializer_list<const char*> suffixes) {
  for (const char* s : suffixes) {
    for (const auto* t : tensors) {
      if (t->shape.size() == 2 && (t->name == s || ends_with(t->name, std::string(".") + s)))
        return t;
    }
  }
  return nullptr;
}

Status check_index(const ModelScan& scan) {
  for (const auto& [path, doc] : scan.json) {
    if (!ends_with(path, ".safetensors.index.json")) continue;
    auto map = doc.find("weight_map");
    if (!doc.is_object() || map == doc.end() || !map->is_object()) {
      return inconsistent(path + " has no weight_map object");
    }
    std::string dir =
        path.find('/') == std::string::npos ? "" : path.substr(0, path.rfind('/') + 1);
    std::map<std::string, std::set<std::string>> shards;
    for (const auto& w : scan.weights) {
      if (w.format != "safetensors") continue;
      for (const auto& t : w.tensors) shards[w.path].insert(t.name);
    }
    for (auto it = map->begin(); it != map->end(); ++it) {
      if (!it->is_string())
        return inconsistent(path + ": weight_map entry '" + it.key() + "' is not a file name");
      std::string shard = dir + it->get<std::string>();
      auto s = shards.find(shard);
      if (s == shards.end()) {
        return inconsistent(path + " maps '" + it.key() + "' to " + shard +
                            ", which is not in the lock");
      }
      if (!s->second.count(it.key())) {
        return inconsistent(path + " maps '" + it.key() + "' to " + shard +
                            ", which does not contain it");
      }
    }
  }
  return {};
}

Status check_layers(const std::vector<const TensorInfo*>& tensors, const std::string& key,
                    uint64_t expected, ConsistencyResult& out) {
  std::map<std::string, std::set<uint64_t>> by_prefix;
  for (const auto* t : tensors) {
    if (auto l = layer_of(t->name)) by_prefix[l->prefix].insert(l->index);
  }
  if (by_prefix.size() != 1) return {};  // encoder-decoder or no layers: nothing comparable
  const auto& [prefix, indices] = *by_prefix.begin();
  if (indices.size() != expected || *indices.rbegin() + 1 != indices.size()) {
    return inconsistent(fmt::format("config.json {} is {} but the weights have {} layers ({}0..{})",
                                    key, expected, indices.size(), prefix, *indices.rbegin()));
  }
  out.checked.push_back(key);
  return {};
}

Status check_config(const json& cfg, const std::vector<const TensorInfo*>& tensors,
                    ConsistencyResult& out) {
  if (auto a = cfg.find("architectures");
      a != cfg.end() && a->is_array() && !a->empty() && (*a)[0].is_string()) {
    out.architecture = (*a)[0].get<std::string>();
  }
  if (auto m = cfg.find("model_type"); m != cfg.end() && m->is_string())
    out.model_type = m->get<std::string>();
  if (out.architecture.empty()) out.architecture = out.model_type;
  auto vocab = config_int(cfg, {"vocab_size"});
  auto hidden = config_int(cfg, {"hidden_size", "dim", "n_embd", "d_model"});
  auto layers = config_int(cfg, {"num_hidden_layers", "n_layers", "n_layer"});
  auto inter = config_int(cfg, {"intermediate_size", "hidden_dim", "n_inner"});
  if (hidden) out.hidden_size = hidden->second;
  const TensorInfo* emb =
      find_suffix(tensors, {"embeddings.word_embeddings.weight", "embed_tokens.weight",
                            "word_embeddings.weight", "wte.weight", "token_embd.weight"});
  if (emb) {
    if (vocab && emb->shape[0] != vocab->second) {
      return inconsistent(fmt::format("config.json vocab_size is {} but {} is {}", vocab->second,
                                      emb->name, shape_string(emb->shape)));
    }
    if (hidden && emb->shape[1] != hidden->second) {
      return inconsistent(fmt::format("config.json {} is {} but {} is {}", hidden->first,
                                      hidden->second, emb->name, shape_string(emb->shape)));
    }
    if (vocab) out.checked.emplace_back("vocab_size");
    if (hidden) out.checked.push_back(hidden->first);
    out.hidden_size = emb->shape[1];
  }
  if (layers) MB_TRY(check_layers(tensors, layers->first, layers->second, out));
  const TensorInfo* up = find_suffix(tensors, {"intermediate.dense.weight", "ffn.lin1.weight",
                                               "mlp.up_proj.weight", "ffn_up.weight"});
  if (inter && up) {
    if (up->shape[0] != inter->second) {
      return inconsistent(fmt::format("config.json {} is {} but {} is {}", inter->first,
                                      inter->second, up->name, shape_string(up->shape)));
    }
    out.checked.push_back(inter->first);
  }
  return {};
}

// GGUF files describe themselves: <arch>.embedding_length, .block_count, .feed_forward_length.
Status check_gguf(const WeightFile& w, ConsistencyResult& out) {
  auto meta = [&](const std::string& k) -> std::optional<uint64_t> {
    auto it = w.gguf_metadata.find(k);
    if (it == w.gguf_metadata.end()) return std::nullopt;
    try {
      return std::stoull(it->second);
    } catch (...) {
      return std::nullopt;
    }
  };
  auto arch = w.gguf_metadata.find("general.architecture");
  if (arch == w.gguf_metadata.end()) return inconsistent(w.path + " has no general.architecture");
  out.architecture = arch->second;
  const std::string a = arch->second;
  std::vector<const TensorInfo*> tensors;
  for (const auto& t : w.tensors) tensors.push_back(&t);
  const TensorInfo* emb = find_suffix(tensors, {"token_embd.weight"});
  auto width = meta(a + ".embedding_length");
  if (emb && width && emb->shape[1] != *width) {
    return inconsistent(fmt::format("{}: {}.embedding_length is {} but token_embd.weight is {}",
                                    w.path, a, *width, shape_string(emb->shape)));
  }
  if (auto n = meta(a + ".block_count")) MB_TRY(check_layers(tensors, a + ".block_count", *n, out));
  const TensorInfo* up = find_suffix(tensors, {"ffn_up.weight"});
  auto ff = meta(a + ".feed_forward_length");
  if (up && ff && up->shape[0] != *ff) {
    return inconsistent(fmt::format("{}: {}.feed_forward_length is {} but {} is {}", w.path, a, *ff,
                                    up->name, shape_string(up->shape)));
  }
  if (emb) out.hidden_size = emb->shape[1];
  return {};
}

Status check_tokenizer(const json& tok, const TensorInfo& emb, ConsistencyResult& out) {
  int64_t max_id = -1;
  auto model = tok.find("model");
  if (model != tok.end() && model->is_object()) {
    auto vocab = model->find("vocab");
    if (vocab != model->end() && vocab->is_object()) {
      for (const auto& v : *vocab) {
        if (v.is_number_integer()) max_id = std::max(max_id, v.get<int64_t>());
      }
    } else if (vocab != model->end() && vocab->is_array()) {
      max_id = static_cast<int64_t>(vocab->size()) - 1;  // Unigram: ids are positions
    }
  }
  auto added = tok.find("added_tokens");
  if (added != tok.end() && added->is_array()) {
    for (const auto& a : *added) {
      if (a.is_object() && a.contains("id") && a["id"].is_number_integer()) {
        max_id = std::max(max_id, a["id"].get<int64_t>());
      }
    }
  }
  if (max_id >= 0 && static_cast<uint64_t>(max_id) >= emb.shape[0]) {
    return inconsistent(fmt::format("tokenizer.json has token id {} but {} has only {} rows",
                                    max_id, emb.name, emb.shape[0]));
  }
  if (max_id >= 0) out.checked.emplace_back("tokenizer vocabulary");
  return {};
}

Status check_modules(const ModelScan& scan, const json& modules, ConsistencyResult& out) {
  if (!modules.is_array()) return inconsistent("modules.json is not a list");
  std::optional<uint64_t> dim = out.hidden_size;
  for (const auto& m : modules) {
    if (!m.is_object() || !m.contains("path") || !m["path"].is_string() || !m.contains("type") ||
        !m["type"].is_string()) {
      return inconsistent("modules.json has an entry without path/type");
    }
    std::string path = m["path"].get<std::string>();
    std::string type = m["type"].get<std::string>();
    if (!path.empty() && !validate_relative_path(path, "module path").ok()) {
      return inconsistent("modules.json has an unsafe path '" + path + "'");
    }
    bool pooling = ends_with(type, ".Pooling");
    bool dense = ends_with(type, ".Dense");
    if (!pooling && !dense) continue;
    std::string cfg_path = path.empty() ? "config.json" : path + "/config.json";
    const json* cfg = scan.find_json(cfg_path);
    if (!cfg || !cfg->is_object()) {
      return inconsistent("modules.json names " + type + " in '" + path + "' but " + cfg_path +
                          " is not in the lock");
    }
    if (pooling) {
      auto wed = config_int(*cfg, {"word_embedding_dimension"});
      if (!wed) return inconsistent(cfg_path + " has no word_embedding_dimension");
      if (dim && wed->second != *dim) {
        return inconsistent(
            fmt::format("{} word_embedding_dimension is {} but the model's hidden size is {}",
                        cfg_path, wed->second, *dim));
      }
      dim = wed->second;
      out.checked.emplace_back("pooling dimension");
    } else {
      auto in = config_int(*cfg, {"in_features"});
      auto outf = config_int(*cfg, {"out_features"});
      if (!in || !outf) return inconsistent(cfg_path + " lacks in_features/out_features");
      if (dim && in->second != *dim) {
        return inconsistent(fmt::format("{} in_features is {} but the previous module outputs {}",
                                        cfg_path, in->second, *dim));
      }
      dim = outf->second;
      out.checked.emplace_back("dense dimensions");
    }
  }
  out.embedding_dimension = dim;
  return {};
}

}  // namespace

std::optional<LayerRef> layer_of(const std::string& name) {
  for (const char* marker : {"layer.", "layers.", "h.", "blk.", "block.", "blocks."}) {
    size_t pos = 0;
    const std::string m = marker;
    while ((pos = name.find(m, pos)) != std::string::npos) {
      size_t digits = pos + m.size();
      size_t end = digits;
      while (end < name.size() && end - digits < 9 &&
             std::isdigit(static_cast<unsigned char>(name[end])))
        ++end;
      bool at_boundary = pos == 0 || name[pos - 1] == '.';
      if (at_boundary && end > digits && end < name.size() && name[end] == '.') {
        return LayerRef{name.substr(0, digits), std::stoull(name.substr(digits, end - digits))};
      }
      pos += 1;
    }
  }
  return std::nullopt;
}

Result<ConsistencyResult> check_consistency(const std::string& dir, const ModelScan& scan) {
  (void)dir;
  ConsistencyResult out;
  MB_TRY(check_index(scan));
  std::vector<const TensorInfo*> tensors;
  for (const WeightFile* w : scan.primary()) {
    if (w->format == "gguf") MB_TRY(check_gguf(*w, out));
    for (const auto& t : w->tensors) tensors.push_back(&t);
  }
  if (const json* cfg = scan.find_json("config.json"); cfg && cfg->is_object()) {
    MB_TRY(check_config(*cfg, tensors, out));
  }
  const TensorInfo* emb =
      find_suffix(tensors, {"embeddings.word_embeddings.weight", "embed_tokens.weight",
                            "word_embeddings.weight", "wte.weight", "token_embd.weight"});
  if (const json* tok = scan.find_json("tokenizer.json"); tok && emb) {
    MB_TRY(check_tokenizer(*tok, *emb, out));
  }
  if (const json* modules = scan.find_json("modules.json")) {
    MB_TRY(check_modules(scan, *modules, out));
  } else {
    out.embedding_dimension = out.hidden_size;
  }
  return out;
}

}  // namespace mb::runtime
