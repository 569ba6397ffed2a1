#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora: small, valid instances of each format, so that
libFuzzer starts from inputs that reach deep into the parsers. Run from anywhere:
    python3 Fuzz/seeds/make_seeds.py
The Parquet and config seeds are copied from the test fixtures (see the fuzz script)."""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    os.makedirs(os.path.join(HERE, target), exist_ok=True)
    with open(os.path.join(HERE, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def byte_level_chars():
    # GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 onwards.
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars, n = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + n)
            n += 1
    return chars


def tiny_vocab():
    chars = byte_level_chars()
    vocab = {chars[b]: b for b in range(256)}
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a")]
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    return vocab, merges


def tokenizer_json():
    vocab, merges = tiny_vocab()
    return json.dumps({
        "version": "1.0",
        "added_tokens": [{"id": len(vocab), "content": "<|endoftext|>", "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False},
        "model": {"type": "BPE", "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]},
    }, ensure_ascii=False)


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf_value(v):
    if isinstance(v, bool):
        return struct.pack("<I?", 7, v)
    if isinstance(v, int):
        return struct.pack("<II", 4, v)
    if isinstance(v, float):
        return struct.pack("<If", 6, v)
    if isinstance(v, str):
        return struct.pack("<I", 8) + gguf_string(v)
    if isinstance(v, list):
        if all(isinstance(x, str) for x in v):
            return struct.pack("<IIQ", 9, 8, len(v)) + b"".join(gguf_string(x) for x in v)
        return struct.pack("<IIQ", 9, 5, len(v)) + b"".join(struct.pack("<i", x) for x in v)
    raise TypeError(v)


def gguf(tensors, metadata):
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata))
    for key, value in metadata.items():
        out += gguf_string(key) + gguf_value(value)
    offset, data = 0, b""
    for name, (ggml_type, dims, payload) in tensors.items():
        out += gguf_string(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", ggml_type, offset)
        padded = payload + b"\0" * (-len(payload) % 32)
        data += padded
        offset += len(padded)
    out += b"\0" * (-len(out) % 32)
    return out + data


def llama_gguf():
    vocab, merges = tiny_vocab()
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    f32 = lambda n: struct.pack(f"<{n}f", *[(i % 7) * 0.1 for i in range(n)])
    q8 = lambda n: b"".join(struct.pack("<e", 0.5) + bytes(range(32)) for _ in range(n // 32))
    f16 = lambda n: struct.pack(f"<{n}e", *[(i % 5) * 0.25 for i in range(n)])
    q4_0 = lambda n: b"".join(struct.pack("<e", 0.5) + bytes(range(16)) for _ in range(n // 32))
    q4_1 = lambda n: b"".join(struct.pack("<ee", 0.5, -1.0) + bytes(range(16)) for _ in range(n // 32))
    tensors = {
        "token_embd.weight": (0, [32, 8], f32(256)),
        "blk.0.attn_q.weight": (8, [32, 32], q8(1024)),
        "blk.0.attn_k.weight": (1, [32, 32], f16(1024)),
        "blk.0.attn_v.weight": (2, [32, 32], q4_0(1024)),
        "blk.0.ffn_up.weight": (3, [32, 32], q4_1(1024)),
        "output_norm.weight": (0, [32], f32(32)),
    }
    metadata = {
        "general.architecture": "llama", "general.alignment": 32,
        "llama.block_count": 1, "llama.embedding_length": 32, "llama.feed_forward_length": 64,
        "llama.attention.head_count": 4, "llama.attention.head_count_kv": 2, "llama.context_length": 128,
        "llama.attention.layer_norm_rms_epsilon": 1e-5, "llama.rope.freq_base": 10000.0,
        "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "smollm",
        "tokenizer.ggml.tokens": tokens, "tokenizer.ggml.token_type": [1] * len(tokens),
        "tokenizer.ggml.merges": [f"{a} {b}" for a, b in merges],
        "tokenizer.ggml.bos_token_id": 0, "tokenizer.ggml.eos_token_id": 0,
    }
    return gguf(tensors, metadata)


def safetensors():
    header = {
        "__metadata__": {"format": "pt"},
        "a.weight": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 64]},
        "b.weight": {"dtype": "F16", "shape": [8], "data_offsets": [64, 80]},
        "c.weight": {"dtype": "BF16", "shape": [2, 4], "data_offsets": [80, 96]},
        "ids": {"dtype": "I64", "shape": [2], "data_offsets": [96, 112]},
    }
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    data = struct.pack("<16f", *range(16)) + struct.pack("<8e", *range(8)) + b"\x80\x3f" * 8 + struct.pack("<2q", 1, 2)
    return struct.pack("<Q", len(text)) + text + data


def sae_weights(d, f, threshold=False):
    """A SAELens sae_weights.safetensors with small F32 tensors."""
    tensors = [("W_enc", [d, f]), ("W_dec", [f, d]), ("b_enc", [f]), ("b_dec", [d])] + ([("threshold", [f])] if threshold else [])
    header, body = {}, b""
    for name, shape in tensors:
        count = 1
        for n in shape:
            count *= n
        data = struct.pack("<%df" % count, *[0.05 * ((i % 7) - 3) for i in range(count)])
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(body), len(body) + len(data)]}
        body += data
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + body


def neox_config():
    return json.dumps({"model_type": "gpt_neox", "hidden_size": 32, "num_attention_heads": 4, "num_hidden_layers": 2,
                       "intermediate_size": 128, "vocab_size": 512, "max_position_embeddings": 128, "rotary_pct": 0.25,
                       "rotary_emb_base": 10000, "layer_norm_eps": 1e-5, "use_parallel_residual": True,
                       "hidden_act": "gelu"})


def llama_config():
    return json.dumps({"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 4,
                       "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 512, "rms_norm_eps": 1e-5,
                       "rope_theta": 10000.0, "tie_word_embeddings": True, "hidden_act": "silu",
                       "rope_scaling": None, "max_position_embeddings": 128})


def feature_store():
    """Two feature records in the indexed record file format (docs/formats.md), zstd frames by the zstd CLI."""
    import subprocess
    header = json.dumps({"format": "saepipe-features/1", "sae": "A", "features": 2,
                         "datasets": [{"data": "A", "label": "prose", "tokens": 10, "co_firing_rows": 10}],
                         "context_before": 2, "context_after": 1, "histogram_bins": 4, "logit_caveat": None, "notes": {}}).encode()
    example = {"activation": 1.5, "tokens": [5, 6, 7, 8], "values": [0, 0.5, 1.5, 0], "center": 2}
    records = []
    for feature in range(2):
        record = {"feature": feature, "nearest": [{"feature": 1 - feature, "score": 0.1}],
                  "promoted": [{"token": 3, "logit": 0.2}], "suppressed": [{"token": 4, "logit": -0.2}],
                  "views": [{"data": "A", "top": [example], "histogram": {"max": 1.5, "counts": [1, 0, 0, 1]},
                             "bands": [{"low": 0.75, "high": 1.5, "share": 0.5, "examples": [example]}],
                             "top_tokens": [{"token": 7, "share": 1.0}], "co_firing": [{"feature": 1 - feature, "score": 0.5}]}]}
        raw = json.dumps(record).encode()
        records.append(subprocess.run(["zstd", "-q", "-c", "--content-size", "--check"], input=raw, capture_output=True, check=True).stdout)
    out = b"SAEPREC1" + struct.pack("<Q", len(header)) + header + struct.pack("<Q", len(records))
    offset = 0
    out += struct.pack("<Q", 0)
    for blob in records:
        offset += len(blob)
        out += struct.pack("<Q", offset)
    return out + b"".join(records)


if __name__ == "__main__":
    write("gguf", "llama-tiny.gguf", llama_gguf())
    write("safetensors", "mixed-dtypes.safetensors", safetensors())
    write("tokenizer", "bpe-tiny.json", tokenizer_json())
    write("modelconfig", "neox.json", neox_config())
    write("modelconfig", "llama.json", llama_config())
    write("saeimport", "standard-cfg-only.json", json.dumps({"architecture": "standard", "d_in": 4, "d_sae": 8,
                                                             "apply_b_dec_to_input": False, "normalize_activations": "none"}))
    write("saeimport", "topk-rescaled.json", json.dumps({"architecture": "topk", "d_in": 4, "d_sae": 8, "k": 2,
                                                         "rescale_acts_by_decoder_norm": True}))
    write("saeimport", "jumprelu-with-weights.bin", json.dumps({"architecture": "jumprelu", "d_in": 3, "d_sae": 5}).encode()
          + b"\0" + sae_weights(3, 5, threshold=True))
    write("featurestore", "two-features.features", feature_store())
    write("config", "anchors.yaml", "base: &b {lr: 0.001, width: 64}\ntrain: *b\nsweep: {grid: {train.l1_coefficient: [1, 2, 4]}}\n")
