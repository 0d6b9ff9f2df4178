#include <gtest/gtest.h>

#include "runtime/consistency.hpp"

namespace mb::runtime {
namespace {

using nlohmann::json;

TensorInfo tensor(const std::string& name, std::vector<uint64_t> shape) {
  TensorInfo t;
  t.name = name;
  t.dtype = "F32";
  t.shape = std::move(shape);
  t.nbytes = 4;
  for (auto d : t.shape) t.nbytes *= d;
  return t;
}

// A 2-layer BERT (hidden 8, intermediate 16, vocab 10) with an optional name prefix.
ModelScan bert_scan(const std::string& prefix, const std::string& layer_word = "encoder.layer.",
                    const std::string& ffn = "intermediate.dense.weight") {
  ModelScan scan;
  WeightFile w;
  w.path = "model.safetensors";
  w.format = "safetensors";
  w.tensors.push_back(tensor(prefix + "embeddings.word_embeddings.weight", {10, 8}));
  w.tensors.push_back(tensor(prefix + "embeddings.position_embeddings.weight", {32, 8}));
  for (int i = 0; i < 2; ++i) {
    std::string p = prefix + layer_word + std::to_string(i) + ".";
    w.tensors.push_back(tensor(p + ffn, {16, 8}));
    w.tensors.push_back(tensor(p + "attention.self.query.weight", {8, 8}));
  }
  scan.weights.push_back(w);
  scan.json["config.json"] = json{{"architectures", {"BertModel"}},
                                  {"model_type", "bert"},
                                  {"vocab_size", 10},
                                  {"hidden_size", 8},
                                  {"num_hidden_layers", 2},
                                  {"intermediate_size", 16}};
  return scan;
}

std::string error_of(const ModelScan& scan) {
  auto r = check_consistency("", scan);
  EXPECT_FALSE(r.ok());
  return r.ok() ? "" : r.error().message;
}

TEST(Consistency, LayerNames) {
  EXPECT_EQ(layer_of("bert.encoder.layer.11.attention.self.query.weight")->index, 11u);
  EXPECT_EQ(layer_of("bert.encoder.layer.11.attention.self.query.weight")->prefix,
            "bert.encoder.layer.");
  EXPECT_EQ(layer_of("transformer.layer.3.ffn.lin1.weight")->index, 3u);
  EXPECT_EQ(layer_of("model.layers.7.mlp.up_proj.weight")->index, 7u);
  EXPECT_EQ(layer_of("blk.0.ffn_up.weight")->index, 0u);
  EXPECT_FALSE(layer_of("embeddings.LayerNorm.weight").has_value());
  EXPECT_FALSE(layer_of("pooler.dense.weight").has_value());
  EXPECT_FALSE(layer_of("encoder.layer.x.weight").has_value());
}

TEST(Consistency, BertWithAndWithoutPrefix) {
  for (const char* prefix : {"", "bert.", "roberta."}) {
    auto r = check_consistency("", bert_scan(prefix));
    ASSERT_TRUE(r.ok()) << prefix << ": " << r.error().message;
    EXPECT_EQ(r->architecture, "BertModel");
    EXPECT_EQ(r->hidden_size.value_or(0), 8u);
    EXPECT_EQ(r->embedding_dimension.value_or(0), 8u);
    EXPECT_EQ(r->checked.size(), 4u);
  }
}

TEST(Consistency, DistilBertNames) {
  ModelScan scan = bert_scan("distilbert.", "transformer.layer.", "ffn.lin1.weight");
  scan.json["config.json"] = json{{"model_type", "distilbert"},
                                  {"vocab_size", 10},
                                  {"dim", 8},
                                  {"n_layers", 2},
                                  {"hidden_dim", 16}};
  ASSERT_TRUE(check_consistency("", scan).ok());
  scan.json["config.json"]["hidden_dim"] = 32;
  EXPECT_NE(error_of(scan).find("hidden_dim is 32"), std::string::npos);
}

TEST(Consistency, ConfigMismatches) {
  auto with = [](const char* key, int v) {
    ModelScan s = bert_scan("bert.");
    s.json["config.json"][key] = v;
    return s;
  };
  EXPECT_NE(error_of(with("vocab_size", 11)).find("vocab_size is 11"), std::string::npos);
  EXPECT_NE(error_of(with("hidden_size", 16)).find("hidden_size is 16"), std::string::npos);
  EXPECT_NE(
      error_of(with("num_hidden_layers", 3)).find("num_hidden_layers is 3 but the weights have 2"),
      std::string::npos);
  EXPECT_NE(error_of(with("intermediate_size", 8)).find("intermediate_size is 8"),
            std::string::npos);
}

TEST(Consistency, TokenizerIdsMustFitTheEmbedding) {
  ModelScan scan = bert_scan("");
  scan.json["tokenizer.json"] =
      json{{"model", {{"type", "WordPiece"}, {"vocab", {{"a", 0}, {"b", 9}}}}},
           {"added_tokens", json::array()}};
  EXPECT_TRUE(check_consistency("", scan).ok());
  scan.json["tokenizer.json"]["added_tokens"].push_back({{"id", 10}, {"content", "[X]"}});
  EXPECT_NE(error_of(scan).find("token id 10"), std::string::npos);
  // Unigram vocabularies are lists: ids are positions.
  scan.json["tokenizer.json"] = json{{"model", {{"type", "Unigram"}, {"vocab", json::array()}}}};
  for (int i = 0; i < 11; ++i) scan.json["tokenizer.json"]["model"]["vocab"].push_back({"x", -1.0});
  EXPECT_NE(error_of(scan).find("token id 10"), std::string::npos);
}

TEST(Consistency, SentenceTransformersModules) {
  ModelScan scan = bert_scan("");
  scan.json["modules.json"] = json::array(
      {{{"idx", 0}, {"path", ""}, {"type", "sentence_transformers.models.Transformer"}},
       {{"idx", 1}, {"path", "1_Pooling"}, {"type", "sentence_transformers.models.Pooling"}},
       {{"idx", 2}, {"path", "2_Dense"}, {"type", "sentence_transformers.models.Dense"}}});
  scan.json["1_Pooling/config.json"] = json{{"word_embedding_dimension", 8}};
  scan.json["2_Dense/config.json"] = json{{"in_features", 8}, {"out_features", 4}};
  auto r = check_consistency("", scan);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->embedding_dimension.value_or(0), 4u);
  scan.json["1_Pooling/config.json"]["word_embedding_dimension"] = 16;
  EXPECT_NE(error_of(scan).find("word_embedding_dimension is 16"), std::string::npos);
  scan.json.erase("1_Pooling/config.json");
  EXPECT_NE(error_of(scan).find("not in the lock"), std::string::npos);
}

TEST(Consistency, SafetensorsIndexMustMatchShards) {
  ModelScan scan = bert_scan("");
  scan.json["model.safetensors.index.json"] =
      json{{"weight_map", {{"embeddings.word_embeddings.weight", "model.safetensors"}}}};
  EXPECT_TRUE(check_consistency("", scan).ok());
  scan.json["model.safetensors.index.json"]["weight_map"]["missing.weight"] = "model.safetensors";
  EXPECT_NE(error_of(scan).find("does not contain it"), std::string::npos);
  scan.json["model.safetensors.index.json"]["weight_map"]["missing.weight"] = "model-2.safetensors";
  EXPECT_NE(error_of(scan).find("not in the lock"), std::string::npos);
}

TEST(Consistency, GgufMetadataAgainstTensors) {
  ModelScan scan;
  WeightFile w;
  w.path = "m.gguf";
  w.format = "gguf";
  w.gguf_metadata = {{"general.architecture", "llama"},
                     {"llama.embedding_length", "8"},
                     {"llama.block_count", "2"},
                     {"llama.feed_forward_length", "16"}};
  w.tensors = {tensor("token_embd.weight", {10, 8}), tensor("blk.0.ffn_up.weight", {16, 8}),
               tensor("blk.1.ffn_up.weight", {16, 8})};
  scan.weights.push_back(w);
  auto r = check_consistency("", scan);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->architecture, "llama");
  scan.weights[0].gguf_metadata["llama.block_count"] = "3";
  EXPECT_NE(error_of(scan).find("block_count is 3"), std::string::npos);
  scan.weights[0].gguf_metadata["llama.block_count"] = "2";
  scan.weights[0].gguf_metadata["llama.embedding_length"] = "4";
  EXPECT_NE(error_of(scan).find("embedding_length is 4"), std::string::npos);
}

}  // namespace
}  // namespace mb::runtime
