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
    merges = learn_merges(corpus, vocab, 60)
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


# ---- decoder-only LLMs (Llama / Qwen2 / Mistral), issue 14.1 --------------------------------

LLM_PROBE_TEXT = "hello world, the cat is good"


def learn_merges(corpus, vocab, rounds):
    """Greedy BPE merges over corpus (lists of symbols); adds merged symbols to vocab."""
    merges = []
    for _ in range(rounds):
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
    return merges


QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def qwen2_tokenizer():
    """Byte-level BPE as Qwen2 ships it: NFC, the Split regex then ByteLevel without its own
    regex, no BOS (the post-processor only adjusts offsets)."""
    tok, vocab = roberta_tokenizer()
    tok["normalizer"] = {"type": "NFC"}
    tok["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": QWEN2_SPLIT}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]}
    tok["post_processor"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                             "use_regex": False}
    return tok, vocab


def llama_tokenizer():
    """SentencePiece-style BPE as Llama 2 / Mistral ship it: U+2581 for spaces, <0xNN> byte
    fallback, <s> prepended by the post-processor."""
    sp = "\u2581"
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    words = [w for w in WORDS if not w.startswith("##")]
    for ch in sorted(set(sp + "".join(words))):
        vocab.setdefault(ch, len(vocab))
    merges = learn_merges([list(sp + w) for w in words], vocab, 50)
    tok = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": i, "content": t, "special": True} for t, i in
                         (("<unk>", 0), ("<s>", 1), ("</s>", 2))],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": sp},
            {"type": "Replace", "pattern": {"String": " "}, "content": sp}]},
        "pre_tokenizer": None,
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": sp}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "vocab": vocab,
                  "merges": merges},
    }
    return tok, vocab


def llm_tensors(gen, c, qkv_bias, tied):
    h, hd, inter, v = c["hidden"], c["head_dim"], c["intermediate"], c["vocab"]
    q, kv = c["heads"] * hd, c["kv_heads"] * hd
    t = {"model.embed_tokens.weight": rand(gen, v, h, scale=1.0)}
    for i in range(c["layers"]):
        p = f"model.layers.{i}."
        t[p + "self_attn.q_proj.weight"] = rand(gen, q, h)
        t[p + "self_attn.k_proj.weight"] = rand(gen, kv, h)
        t[p + "self_attn.v_proj.weight"] = rand(gen, kv, h)
        if qkv_bias:
            t[p + "self_attn.q_proj.bias"] = rand(gen, q)
            t[p + "self_attn.k_proj.bias"] = rand(gen, kv)
            t[p + "self_attn.v_proj.bias"] = rand(gen, kv)
        t[p + "self_attn.o_proj.weight"] = rand(gen, h, q)
        t[p + "mlp.gate_proj.weight"] = rand(gen, inter, h)
        t[p + "mlp.up_proj.weight"] = rand(gen, inter, h)
        t[p + "mlp.down_proj.weight"] = rand(gen, h, inter)
        t[p + "input_layernorm.weight"] = 1.0 + rand(gen, h, scale=0.1)
        t[p + "post_attention_layernorm.weight"] = 1.0 + rand(gen, h, scale=0.1)
    t["model.norm.weight"] = 1.0 + rand(gen, h, scale=0.1)
    if not tied:
        t["lm_head.weight"] = rand(gen, v, h)
    return t


LLM_ARCHS = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "mistral": "MistralForCausalLM"}


def make_llm(out, kind="llama", dtype="F32", seed=0, tied=False, shards=1, rope_scaling=None, shapes=None,
             config_extra=None, drop=()):
    """A tiny random decoder LLM (kind: llama | qwen2 | mistral) with its tokenizer.json.
    shards > 1 writes model-0000i-of-0000n.safetensors + model.safetensors.index.json.
    Returns the model directory."""
    os.makedirs(out, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    tok, vocab = qwen2_tokenizer() if kind == "qwen2" else llama_tokenizer()
    c = {"hidden": 32, "heads": 4, "kv_heads": 2, "head_dim": 8, "intermediate": 48, "layers": 2, "max_pos": 64}
    c.update(shapes or {})
    c["vocab"] = max(c.get("vocab", 0), max(vocab.values()) + 1)  # a bench may pad the embedding
    tensors = llm_tensors(gen, c, kind == "qwen2", tied)
    for name in drop:
        tensors.pop(name)
    tensors = {k: t.to(torch_dtype(dtype)) for k, t in tensors.items()}
    names = list(tensors)
    if shards == 1:
        write_safetensors(os.path.join(out, "model.safetensors"), tensors)
    else:
        weight_map = {}
        for s in range(shards):
            fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            part = {n: tensors[n] for n in names[s::shards]}
            write_safetensors(os.path.join(out, fname), part)
            weight_map.update({n: fname for n in part})
        write_json(os.path.join(out, "model.safetensors.index.json"), {"metadata": {}, "weight_map": weight_map})
    config = {"architectures": [LLM_ARCHS[kind]], "model_type": kind, "vocab_size": c["vocab"],
              "hidden_size": c["hidden"], "intermediate_size": c["intermediate"],
              "num_hidden_layers": c["layers"], "num_attention_heads": c["heads"],
              "num_key_value_heads": c["kv_heads"], "max_position_embeddings": c["max_pos"],
              "rms_norm_eps": 1e-6 if kind == "qwen2" else 1e-5, "rope_theta": 1000000.0 if kind == "qwen2" else 10000.0,
              "hidden_act": "silu", "tie_word_embeddings": tied, "rope_scaling": rope_scaling,
              "torch_dtype": {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[dtype]}
    if c["head_dim"] != c["hidden"] // c["heads"]:
        config["head_dim"] = c["head_dim"]
    if kind == "qwen2":
        config.update({"bos_token_id": vocab["<s>"], "eos_token_id": vocab["</s>"]})
    else:
        config.update({"bos_token_id": 1, "eos_token_id": 2})
    config.update(config_extra or {})
    write_json(os.path.join(out, "config.json"), config)
    write_json(os.path.join(out, "tokenizer.json"), tok)
    return out
