"""Generates tiny BERT-family models with random weights for the inference tests and bench.

Each model directory holds what a hub snapshot holds: config.json, tokenizer.json,
model.safetensors (F32, F16 or BF16), and for sentence-transformers models modules.json +
1_Pooling/config.json. MPNet models are laid out as all-mpnet-base-v2 (WordPiece with <s>/</s>,
RobertaProcessing, `attention.attn.q/k/v/o`, one shared `encoder.relative_attention_bias`). Safetensors are written by hand (the format is a little-endian u64
header length, a JSON header, then the raw bytes) so the tests need only torch + numpy.

    /usr/bin/python3 gen_tiny_models.py OUT_DIR [bert|roberta|xlmr|distilbert|mpnet|minilm ...]
"""
import json
import os
import struct
import sys

import torch

SPECIAL_BERT = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ["the", "a", "cat", "dog", "sat", "on", "mat", "model", "bake", "verifies", "that",
         "this", "loads", "and", "computes", "hello", "world", "cafe", "run", "##s", "##ing",
         "##ed", "un", "##known", "is", "good", "bad", "movie"]
PROBE_TEXT = "The cat sat on the mat, and this model computes."


def torch_dtype(name):
    return {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}[name]


def write_safetensors(path, tensors):
    """tensors: dict name -> torch tensor (already in the target dtype)."""
    header, blobs, offset = {}, [], 0
    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}
    for name, t in tensors.items():
        t = t.contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def rand(gen, *shape, scale=0.2):
    return torch.randn(*shape, generator=gen) * scale


MPNET_LAYER = {"q": "attention.attn.q", "k": "attention.attn.k", "v": "attention.attn.v",
               "o": "attention.attn.o", "ln1": "attention.LayerNorm", "i": "intermediate.dense",
               "out": "output.dense", "ln2": "output.LayerNorm"}


def encoder_tensors(gen, cfg, prefix, distil=False, seq_cls=None, mpnet=False):
    h, i, v, p = cfg["hidden"], cfg["intermediate"], cfg["vocab"], cfg["max_pos"]
    t = {}
    e = prefix + "embeddings."
    t[e + "word_embeddings.weight"] = rand(gen, v, h, scale=0.5)
    t[e + "position_embeddings.weight"] = rand(gen, p, h, scale=0.5)
    if not distil and not mpnet:
        t[e + "token_type_embeddings.weight"] = rand(gen, 2, h, scale=0.5)
    if mpnet:
        # Large enough that a wrong bucket moves the output far beyond the test tolerance.
        t[prefix + "encoder.relative_attention_bias.weight"] = rand(gen, cfg["buckets"], cfg["heads"], scale=2.0)
    t[e + "LayerNorm.weight"] = 1 + rand(gen, h, scale=0.1)
    t[e + "LayerNorm.bias"] = rand(gen, h, scale=0.1)
    for n in range(cfg["layers"]):
        if distil:
            lp = f"{prefix}transformer.layer.{n}."
            names = {"q": "attention.q_lin", "k": "attention.k_lin", "v": "attention.v_lin",
                     "o": "attention.out_lin", "ln1": "sa_layer_norm", "i": "ffn.lin1",
                     "out": "ffn.lin2", "ln2": "output_layer_norm"}
        elif mpnet:
            lp, names = f"{prefix}encoder.layer.{n}.", MPNET_LAYER
        else:
            lp = f"{prefix}encoder.layer.{n}."
            names = {"q": "attention.self.query", "k": "attention.self.key",
                     "v": "attention.self.value", "o": "attention.output.dense",
                     "ln1": "attention.output.LayerNorm", "i": "intermediate.dense",
                     "out": "output.dense", "ln2": "output.LayerNorm"}
        for key, (rows, cols) in {"q": (h, h), "k": (h, h), "v": (h, h), "o": (h, h),
                                  "i": (i, h), "out": (h, i)}.items():
            t[lp + names[key] + ".weight"] = rand(gen, rows, cols, scale=cols ** -0.5)
            t[lp + names[key] + ".bias"] = rand(gen, rows, scale=0.1)
        for key in ("ln1", "ln2"):
            t[lp + names[key] + ".weight"] = 1 + rand(gen, h, scale=0.1)
            t[lp + names[key] + ".bias"] = rand(gen, h, scale=0.1)
    if seq_cls == "bert":
        t[prefix + "pooler.dense.weight"] = rand(gen, h, h, scale=h ** -0.5)
        t[prefix + "pooler.dense.bias"] = rand(gen, h, scale=0.1)
        t["classifier.weight"] = rand(gen, cfg["labels"], h)
        t["classifier.bias"] = rand(gen, cfg["labels"], scale=0.1)
    elif seq_cls == "distilbert":
        t["pre_classifier.weight"] = rand(gen, h, h, scale=h ** -0.5)
        t["pre_classifier.bias"] = rand(gen, h, scale=0.1)
        t["classifier.weight"] = rand(gen, cfg["labels"], h)
        t["classifier.bias"] = rand(gen, cfg["labels"], scale=0.1)
    elif seq_cls == "roberta":
        t["classifier.dense.weight"] = rand(gen, h, h, scale=h ** -0.5)
        t["classifier.dense.bias"] = rand(gen, h, scale=0.1)
        t["classifier.out_proj.weight"] = rand(gen, cfg["labels"], h)
        t["classifier.out_proj.bias"] = rand(gen, cfg["labels"], scale=0.1)
    return t


def bert_vocab(size=None):
    toks = SPECIAL_BERT + list(".,!?'-") + [chr(c) for c in range(ord("a"), ord("z") + 1)]
    toks += ["##" + chr(c) for c in range(ord("a"), ord("z") + 1)] + WORDS + ["\u4e2d", "\u6587"]
    seen, out = set(), []
    for t in toks:
        if t not in seen:
            seen.add(t)
            out.append(t)
    while size is not None and len(out) < size:
        out.append(f"[unused{len(out)}]")
    return {t: i for i, t in enumerate(out)}


def bert_tokenizer(vocab, max_len=None):
    return {
        "version": "1.0",
        "truncation": {"max_length": max_len, "strategy": "LongestFirst", "stride": 0} if max_len else None,
        "added_tokens": [{"id": vocab[t], "content": t, "special": True} for t in SPECIAL_BERT],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}},
                                      {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
                           "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [vocab["[CLS]"]], "tokens": ["[CLS]"]},
                                              "[SEP]": {"id": "[SEP]", "ids": [vocab["[SEP]"]], "tokens": ["[SEP]"]}}},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab},
    }


def bytes_to_unicode():
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def roberta_tokenizer():
    """Byte-level BPE: all 256 byte symbols plus merges learned greedily from WORDS."""
    b2u = bytes_to_unicode()
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for b in range(256):
        vocab.setdefault(b2u[b], len(vocab))
    corpus = [[b2u[c] for c in (" " + w).encode()] for w in WORDS if not w.startswith("##")]
    merges = []
    for _ in range(60):
        counts = {}
        for word in corpus:
            for a, b in zip(word, word[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + 1
        if not counts:
            break
        best = max(sorted(counts), key=lambda k: counts[k])
        merges.append(f"{best[0]} {best[1]}")
        vocab.setdefault(best[0] + best[1], len(vocab))
        new = []
        for word in corpus:
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            new.append(out)
        corpus = new
    vocab["<mask>"] = len(vocab)
    tok = {
        "version": "1.0", "truncation": None,
        "added_tokens": [{"id": vocab[t], "content": t, "special": True} for t in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0],
                           "trim_offsets": True, "add_prefix_space": False},
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "vocab": vocab, "merges": merges},
    }
    return tok, vocab


def xlmr_tokenizer():
    pieces = [["<s>", 0.0], ["<pad>", 0.0], ["</s>", 0.0], ["<unk>", 0.0]]
    for w in WORDS:
        if not w.startswith("##"):
            pieces.append(["\u2581" + w, -2.0 - len(pieces) * 0.01])
    for c in "abcdefghijklmnopqrstuvwxyz.,":
        pieces.append([c, -6.0])
    pieces += [["\u2581", -3.0], ["ca", -4.0], ["fe", -4.0], ["\u2581<mask>", 0.0]]
    tok = {
        "version": "1.0", "truncation": None,
        "added_tokens": [{"id": i, "content": p[0], "special": True} for i, p in enumerate(pieces[:4])],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Precompiled", "precompiled_charsmap": ""},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]},
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}},
                                      {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                           "special_tokens": {"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]},
                                              "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}}},
        "model": {"type": "Unigram", "unk_id": 3, "vocab": pieces, "byte_fallback": False},
    }
    return tok, len(pieces)


def mpnet_tokenizer(template=False):
    """all-mpnet-base-v2's tokenizer.json: BERT normalizer/pre-tokenizer and WordPiece, but the
    RoBERTa specials <s> </s> (ids 0 and 2) around the sequence and "[UNK]" as the unknown."""
    bert = bert_vocab()
    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    vocab = {t: i for i, t in enumerate(specials + [t for t in bert if t != "[PAD]"])}
    vocab["<mask>"] = len(vocab)
    post = {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0], "trim_offsets": True,
            "add_prefix_space": False}
    if template:  # what transformers' MPNetConverter writes
        post = {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                           {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]},
                                               "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}}}
    tok = {
        "version": "1.0",
        "truncation": {"direction": "Right", "max_length": 384, "strategy": "LongestFirst", "stride": 0},
        # Padding only matters for batches (pads are masked out of attention and pooling).
        "padding": {"strategy": "BatchLongest", "direction": "Right", "pad_to_multiple_of": None,
                    "pad_id": 1, "pad_type_id": 0, "pad_token": "<pad>"},
        "added_tokens": [{"id": vocab[t], "content": t, "special": True} for t in specials + ["[UNK]", "<mask>"]],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": post,
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab},
    }
    return tok, vocab


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False)


def sentence_transformers(out, pooling, normalize, dimension):
    mods = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    if normalize:
        mods.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
    write_json(os.path.join(out, "modules.json"), mods)
    write_json(os.path.join(out, "1_Pooling", "config.json"),
               {"word_embedding_dimension": dimension, "pooling_mode_cls_token": pooling == "cls",
                "pooling_mode_mean_tokens": pooling == "mean", "pooling_mode_max_tokens": pooling == "max",
                "pooling_mode_mean_sqrt_len_tokens": False})


def make_model(out, kind, dtype="F32", seed=0, classifier=False, pooling="mean", normalize=True,
               shapes=None, max_len=None):
    """kind: bert | roberta | xlmr | distilbert | mpnet. Returns the model directory."""
    os.makedirs(out, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    cfg = {"hidden": 32, "intermediate": 64, "layers": 2, "heads": 4, "max_pos": 40, "labels": 3}
    if kind == "mpnet":  # long enough for distances past max_distance 128 (the last bucket)
        cfg.update({"max_pos": 160, "buckets": 32})
    cfg.update(shapes or {})
    labels = {str(i): name for i, name in enumerate(["NEGATIVE", "NEUTRAL", "POSITIVE"][:cfg["labels"]])}
    if kind in ("bert", "distilbert"):
        vocab = bert_vocab(cfg.get("vocab"))
        tok = bert_tokenizer(vocab, max_len)
        cfg["vocab"] = len(vocab)
    elif kind == "roberta":
        tok, vocab = roberta_tokenizer()
        cfg["vocab"] = len(vocab)
    elif kind == "mpnet":
        tok, vocab = mpnet_tokenizer()
        cfg["vocab"] = len(vocab)
    else:
        tok, n = xlmr_tokenizer()
        cfg["vocab"] = n
    if kind == "bert":
        arch = "BertForSequenceClassification" if classifier else "BertModel"
        config = {"model_type": "bert", "architectures": [arch], "pad_token_id": 0, "type_vocab_size": 2}
        prefix = "bert." if classifier else ""
    elif kind == "distilbert":
        arch = "DistilBertForSequenceClassification" if classifier else "DistilBertModel"
        config = {"model_type": "distilbert", "architectures": [arch], "pad_token_id": 0}
        prefix = "distilbert." if classifier else ""
    elif kind == "mpnet":
        arch = "MPNetForSequenceClassification" if classifier else "MPNetForMaskedLM"
        config = {"model_type": "mpnet", "architectures": [arch], "pad_token_id": 1, "bos_token_id": 0,
                  "eos_token_id": 2, "relative_attention_num_buckets": cfg["buckets"]}
        prefix = "mpnet." if classifier else ""
        cfg["max_pos"] += 2
    else:
        arch = ("RobertaForSequenceClassification" if classifier else "RobertaModel") if kind == "roberta" \
            else ("XLMRobertaForSequenceClassification" if classifier else "XLMRobertaModel")
        config = {"model_type": "roberta" if kind == "roberta" else "xlm-roberta", "architectures": [arch],
                  "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "type_vocab_size": 1}
        prefix = "roberta." if classifier else ""
        cfg["max_pos"] += 2
    if kind == "distilbert":
        config.update({"vocab_size": cfg["vocab"], "dim": cfg["hidden"], "n_layers": cfg["layers"],
                       "n_heads": cfg["heads"], "hidden_dim": cfg["intermediate"], "activation": "gelu",
                       "max_position_embeddings": cfg["max_pos"]})
    else:
        config.update({"vocab_size": cfg["vocab"], "hidden_size": cfg["hidden"],
                       "num_hidden_layers": cfg["layers"], "num_attention_heads": cfg["heads"],
                       "intermediate_size": cfg["intermediate"], "hidden_act": "gelu",
                       "max_position_embeddings": cfg["max_pos"], "layer_norm_eps": 1e-12,
                       "position_embedding_type": "absolute"})
        if kind == "mpnet":
            del config["position_embedding_type"]
            config["layer_norm_eps"] = 1e-05
    if classifier:
        config["id2label"] = labels
        config["label2id"] = {v: int(k) for k, v in labels.items()}
    tensors = encoder_tensors(gen, cfg, prefix, distil=kind == "distilbert",
                              seq_cls={"bert": "bert", "distilbert": "distilbert"}.get(kind, "roberta")
                              if classifier else None, mpnet=kind == "mpnet")
    if kind in ("roberta", "mpnet") and not classifier:
        tensors[prefix + "embeddings.word_embeddings.weight"][1].zero_()  # padding row, as HF
    tensors = {k: v.to(torch_dtype(dtype)) for k, v in tensors.items()}
    write_safetensors(os.path.join(out, "model.safetensors"), tensors)
    write_json(os.path.join(out, "config.json"), config)
    write_json(os.path.join(out, "tokenizer.json"), tok)
    if not classifier:
        sentence_transformers(out, pooling, normalize, cfg["hidden"])
        if kind == "mpnet":  # as all-mpnet-base-v2
            write_json(os.path.join(out, "sentence_bert_config.json"), {"max_seq_length": 384, "do_lower_case": False})
    return out


def make_minilm(out, dtype="F32"):
    """all-MiniLM-L6-v2's shapes: 6 layers, hidden 384, 12 heads, intermediate 1536, vocab 30522."""
    return make_model(out, "bert", dtype=dtype, shapes={"hidden": 384, "intermediate": 1536, "layers": 6,
                                                        "heads": 12, "max_pos": 512, "vocab": 30522})


if __name__ == "__main__":
    root = sys.argv[1]
    kinds = sys.argv[2:] or ["bert", "roberta", "xlmr", "distilbert", "mpnet"]
    for k in kinds:
        d = make_minilm(os.path.join(root, k)) if k == "minilm" else make_model(os.path.join(root, k), k)
        print(d)
