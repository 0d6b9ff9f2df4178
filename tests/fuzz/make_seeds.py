"""Writes a small seed corpus for the fuzz targets: valid tiny files of each format (and a
few near-misses) so libFuzzer starts from structure rather than from noise.

usage: make_seeds.py OUT_DIR    (creates OUT_DIR/{safetensors,gguf,zip,onnx,tokenizer,config,manifest}/)"""

import io
import json
import os
import struct
import sys
import zipfile


def safetensors(tensors, metadata=None):
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, (dtype, shape, size) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + size]}
        data += bytes(range(size % 256)) + b"\0" * (size - size % 256)
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf(tensors, kvs, align=32, version=3):
    body = b""
    for key, (vtype, payload) in kvs.items():
        body += gguf_string(key) + struct.pack("<I", vtype) + payload
    for name, (dims, ggml_type, offset) in tensors.items():
        body += gguf_string(name) + struct.pack("<I", len(dims))
        body += b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", ggml_type, offset)
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs)) + body
    out += b"\0" * (-len(out) % align)
    return out + b"\1" * 256


def varint(v):
    out = b""
    while v >= 0x80:
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7
    return out + bytes([v])


def pb_varint(field, v):
    return varint(field << 3) + varint(v)


def pb_bytes(field, payload):
    return varint((field << 3) | 2) + varint(len(payload)) + payload


def onnx(initializers):
    graph = pb_bytes(1, pb_bytes(1, b"x") + pb_bytes(2, b"y") + pb_bytes(4, b"Relu"))
    for name, dims, raw in initializers:
        t = b"".join(pb_varint(1, d) for d in dims) + pb_varint(2, 1) + pb_bytes(8, name) + pb_bytes(9, raw)
        graph += pb_bytes(5, t)
    return pb_varint(1, 8) + pb_bytes(2, b"seed") + pb_bytes(7, graph) + pb_bytes(8, pb_varint(2, 17))


def torch_zip(entries):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, data in entries:
            z.writestr(name, data)
    return buf.getvalue()


MANIFEST_FULL = b"""version: 1
endpoint: https://huggingface.co
models:
  - repo: sentence-transformers/all-MiniLM-L6-v2
    revision: main
    type: model
    include: ["*.json", "*.safetensors", "1_Pooling/*"]
    exclude: onnx/*
    as: minilm
    expect:
      dim: 384
      similar:
        - {a: "a cat", b: "a kitten", min_cosine: 0.5}
  - repo: org/data
    type: dataset
    revision: 0123456789abcdef0123456789abcdef01234567
"""


def alias_bomb(levels, fan):
    lines = [b"version: 1", b"models:", b"  - repo: org/x", b"    expect:",
             b"      l0: &l0 [" + b", ".join([b"lol"] * fan) + b"]"]
    for i in range(1, levels):
        refs = b", ".join([b"*l%d" % (i - 1)] * fan)
        lines.append(b"      l%d: &l%d [%s]" % (i, i, refs))
    return b"\n".join(lines) + b"\n"


def manifest_seeds():
    return {
        "full.yaml": MANIFEST_FULL,
        "flow.yaml": b'{version: 1, models: [{repo: a/b, expect: {k: [1, 2.5, true, null, "s"]}}]}\n',
        "alias_bomb.yaml": alias_bomb(9, 9),
        "alias_small.yaml": b"version: &v 1\nmodels:\n  - repo: &r org/x\n  - repo: *r\n    as: y\n",
        "dup_key.yaml": b"version: 1\nmodels:\n  - repo: a/b\n    revision: main\n    revision: v2\n",
        "dup_root.yaml": b"version: 1\nmodels: [{repo: a/b}]\nversion: 1\n",
        "two_docs.yaml": b"version: 1\nmodels: [{repo: a/b}]\n---\nversion: 1\n",
        "complex_key.yaml": b"version: 1\nmodels:\n  - repo: a/b\n    expect:\n      ? [a, b]\n      : 1\n",
        "tags.yaml": b"version: !!str 1\nmodels:\n  - repo: 'a/b'\n    include: |\n      *.json\n    as: !x y\n",
    }


def tokenizer_seeds():
    wordpiece = {
        "version": "1.0", "truncation": {"max_length": 8}, "padding": None,
        "added_tokens": [{"id": 0, "content": "[CLS]", "special": True}, {"id": 1, "content": "[SEP]", "special": True}],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True, "lowercase": True},
            {"type": "Replace", "pattern": {"String": "  "}, "content": " "}, {"type": "StripAccents"}]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "BertPreTokenizer"},
                                                                 {"type": "Digits", "individual_digits": True}]},
        "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 1], "cls": ["[CLS]", 0]},
        "decoder": {"type": "WordPiece", "prefix": "##"},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "vocab": {"[CLS]": 0, "[SEP]": 1, "[UNK]": 2, "hello": 3, "##llo": 4, "he": 5, "world": 6}},
    }
    bpe = {
        "added_tokens": [{"id": 5, "content": "<|end|>", "special": True}],
        "normalizer": None, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
        "post_processor": {"type": "ByteLevel"}, "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": {"h": 0, "e": 1, "he": 2, "l": 3, "o": 4}, "merges": ["h e", ["l", "o"]],
                  "byte_fallback": False, "ignore_merges": False},
    }
    unigram = {
        "normalizer": {"type": "Precompiled", "precompiled_charsmap": None},
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True},
        "post_processor": {"type": "TemplateProcessing", "single": [{"Sequence": {"id": "A", "type_id": 0}},
                                                                    {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                           "special_tokens": {"</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [{"type": "Replace"}, {"type": "ByteFallback"}, {"type": "Strip"}]},
        "model": {"type": "Unigram", "unk_id": 0, "byte_fallback": True,
                  "vocab": [["<unk>", 0.0], ["</s>", 0.0], ["\u2581he", -1.5], ["llo", -2.0], ["<0x41>", -9.0]]},
    }
    deep = '{"normalizer": ' + '{"type": "Sequence", "normalizers": [' * 2000 + "{}" + "]}" * 2000 + "}"
    return {"wordpiece.json": json.dumps(wordpiece).encode(), "bpe.json": json.dumps(bpe).encode(),
            "unigram.json": json.dumps(unigram).encode(), "deep.json": deep.encode()}


def config_seeds():
    bert = {"architectures": ["BertForSequenceClassification"], "model_type": "bert", "vocab_size": 30,
            "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
            "max_position_embeddings": 64, "hidden_act": "gelu", "layer_norm_eps": 1e-12,
            "id2label": {"0": "NEG", "1": "POS"}, "num_labels": 2}
    llama = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 300, "hidden_size": 32,
             "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "eos_token_id": [2, 3],
             "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                              "original_max_position_embeddings": 16}, "tie_word_embeddings": False}
    expect = {"dim": 32, "probe_text": "a b", "similar": [{"a": "x", "b": "y", "min_cosine": 0.5}],
              "reference": {"text": "a b", "values": [0.1, -0.2], "tolerance": 1e-3}, "generated_ids": [1, 2],
              "generated_text": " the", "new_tokens": 4}
    return {"bert.json": json.dumps(bert).encode(), "llama.json": json.dumps(llama).encode(),
            "expect.json": json.dumps(expect).encode()}


def main(out):
    seeds = {
        "safetensors": {
            "two.st": safetensors({"a": ("F32", [2, 2], 16), "b": ("BF16", [3], 6)}, {"format": "pt"}),
            "empty.st": safetensors({}),
            "i64.st": safetensors({"ids": ("I64", [4], 32), "m": ("U8", [1, 1], 1)}),
        },
        "gguf": {
            "llama.gguf": gguf({"token_embd.weight": ([8, 4], 0, 0), "blk.0.ffn_up.weight": ([32], 8, 128)},
                               {"general.architecture": (8, gguf_string("llama")),
                                "general.alignment": (4, struct.pack("<I", 32)),
                                "tokenizer.ggml.tokens": (9, struct.pack("<IQ", 8, 2) + gguf_string("a") + gguf_string("b"))}),
            "v2.gguf": gguf({"t": ([4], 1, 0)}, {"f": (6, struct.pack("<f", 1.5))}, version=2),
        },
        "zip": {
            "torch.zip": torch_zip([("archive/data.pkl", b"\x80\x02}q\x00."), ("archive/data/0", b"\0" * 64),
                                    ("archive/version", b"3\n")]),
        },
        "onnx": {
            "relu.onnx": onnx([(b"w", [2, 2], b"\0" * 16)]),
            "two.onnx": onnx([(b"w", [3], b"\0" * 12), (b"b", [1], b"\0" * 4)]),
        },
        "tokenizer": tokenizer_seeds(),
        "config": config_seeds(),
        "manifest": manifest_seeds(),
    }
    for kind, files in seeds.items():
        d = os.path.join(out, kind)
        os.makedirs(d, exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main(sys.argv[1])
