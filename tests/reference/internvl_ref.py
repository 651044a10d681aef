#!/usr/bin/python3
"""A PyTorch reference of InternVL3 inference, written from shared/spec/INTERNVL3.md.

It mirrors the official remote code's arithmetic (InternViT, pixel shuffle v2, mlp1, Qwen2)
in float32 with bf16/f16 weights upcast, so the C engine's CPU backend (also f32 activations)
can be compared with it. Only Debian's python3-torch and python3-numpy are needed.

    /usr/bin/python3 tests/reference/internvl_ref.py MODEL_DIR   # prints a summary
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------
# model files


def _read_safetensors(path):
    """name -> float32 torch tensor, from a safetensors file (u64 header size, JSON, data)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = np.frombuffer(data[begin:end], dtype=np.uint8)
        dtype = info["dtype"]
        if dtype == "BF16":
            # bf16 is the high half of an f32: widening is exact.
            arr = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        elif dtype == "F16":
            arr = raw.view(np.float16).astype(np.float32)
        elif dtype == "F32":
            arr = raw.view(np.float32)
        else:
            raise ValueError(f"{path}: {name}: dtype {dtype} not handled")
        out[name] = torch.from_numpy(arr.copy()).reshape(info["shape"])
    return out


def load_model_dir(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    weights = {}
    for name in files:
        weights.update(_read_safetensors(os.path.join(model_dir, name)))
    return config, weights


# ---------------------------------------------------------------------------------------------
# InternViT (spec 7a)


def _rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def _vit_norm(x, w, b, vc):
    eps = vc.get("layer_norm_eps", 1e-6)
    if vc.get("norm_type", "rms_norm") == "layer_norm":
        return F.layer_norm(x, (x.shape[-1],), w, b, eps)
    return _rms_norm(x, w, eps)


def vision_forward(config, W, pixels):
    """pixels [N, 3, S, S] -> hidden states of the selected layer [N, 1 + g*g, Dv]."""
    vc = config["vision_config"]
    p = "vision_model."
    dv = vc["hidden_size"]
    heads = vc["num_attention_heads"]
    hd = dv // heads
    patch = vc["patch_size"]
    x = F.conv2d(pixels, W[p + "embeddings.patch_embedding.weight"],
                 W[p + "embeddings.patch_embedding.bias"], stride=patch)
    n, _, gh, gw = x.shape
    x = x.flatten(2).transpose(1, 2)  # [N, g*g, Dv], token = row * g + col
    cls = W[p + "embeddings.class_embedding"].reshape(1, 1, dv).expand(n, 1, dv)
    x = torch.cat([cls, x], dim=1)
    # At the stored grid the bicubic resize of the table is the identity (spec 7a.3).
    x = x + W[p + "embeddings.position_embedding"].reshape(1, -1, dv)

    layers = vc["num_hidden_layers"]
    select = config.get("select_layer", -1)
    n_run = layers + 1 + select if select < 0 else select
    for l in range(n_run):
        q = f"{p}encoder.layers.{l}."
        h = _vit_norm(x, W[q + "norm1.weight"], W.get(q + "norm1.bias"), vc)
        qkv = F.linear(h, W[q + "attn.qkv.weight"], W.get(q + "attn.qkv.bias"))
        qq, kk, vv = qkv.split(dv, dim=-1)
        if vc.get("qk_normalization", False):
            eps = vc.get("layer_norm_eps", 1e-6)
            qq = _rms_norm(qq, W[q + "attn.q_norm.weight"], eps)
            kk = _rms_norm(kk, W[q + "attn.k_norm.weight"], eps)
        t = x.shape[1]
        qq, kk, vv = (a.reshape(n, t, heads, hd).transpose(1, 2) for a in (qq, kk, vv))
        att = torch.softmax(qq @ kk.transpose(-1, -2) * hd ** -0.5, dim=-1) @ vv
        att = att.transpose(1, 2).reshape(n, t, dv)
        att = F.linear(att, W[q + "attn.proj.weight"], W[q + "attn.proj.bias"])
        x = x + W[q + "ls1"] * att
        h = _vit_norm(x, W[q + "norm2.weight"], W.get(q + "norm2.bias"), vc)
        h = F.linear(F.gelu(F.linear(h, W[q + "mlp.fc1.weight"], W[q + "mlp.fc1.bias"])),
                     W[q + "mlp.fc2.weight"], W[q + "mlp.fc2.bias"])
        x = x + W[q + "ls2"] * h
    return x


# ---------------------------------------------------------------------------------------------
# projector (spec 7b)


def pixel_shuffle_v2(x, grid):
    """[N, g*g, D] -> [N, (g/2)^2, 4D] with out[i][j][q*D + c] = in[2i + q//2][2j + q%2][c]."""
    n, _, d = x.shape
    x = x.reshape(n, grid // 2, 2, grid // 2, 2, d)       # [N, i, a, j, b, D]
    x = x.permute(0, 1, 3, 2, 4, 5)                         # [N, i, j, a, b, D]
    return x.reshape(n, (grid // 2) ** 2, 4 * d)


def project(config, W, vit):
    n, t, _ = vit.shape
    grid = int(math.isqrt(t - 1))
    x = pixel_shuffle_v2(vit[:, 1:, :], grid)
    x = F.layer_norm(x, (x.shape[-1],), W["mlp1.0.weight"], W["mlp1.0.bias"], 1e-5)
    x = F.gelu(F.linear(x, W["mlp1.1.weight"], W["mlp1.1.bias"]))
    return F.linear(x, W["mlp1.3.weight"], W["mlp1.3.bias"])  # [N, (g/2)^2, Dl]


# ---------------------------------------------------------------------------------------------
# Qwen2 (spec 7c)


def rope_theta(lc, seq_len):
    theta = lc.get("rope_theta", 10000.0)
    rs = lc.get("rope_scaling") or {}
    max_pos = lc.get("max_position_embeddings", 0)
    kind = rs.get("type", rs.get("rope_type"))
    if kind == "dynamic" and seq_len > max_pos:
        f = rs["factor"]
        hd = lc.get("head_dim") or lc["hidden_size"] // lc["num_attention_heads"]
        theta = theta * ((f * seq_len / max_pos) - (f - 1)) ** (hd / (hd - 2))
    return theta


def _rope(x, positions, theta):
    """x [T, heads, hd], rotate-half. As transformers' Qwen2 rotary embedding: inv_freq,
    angles, cos and sin all in float32."""
    hd = x.shape[-1]
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    ang = positions.float()[:, None] * inv_freq[None, :]
    cos = torch.cat([ang.cos(), ang.cos()], dim=-1)[:, None, :]
    sin = torch.cat([ang.sin(), ang.sin()], dim=-1)[:, None, :]
    half = hd // 2
    rot = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rot * sin


def _is_internlm2(config):
    return config["llm_config"]["architectures"][0].startswith("InternLM2")


def _embed_table(config, W):
    name = "tok_embeddings" if _is_internlm2(config) else "embed_tokens"
    return W[f"language_model.model.{name}.weight"]


def _lm_head(config, W):
    name = "output" if _is_internlm2(config) else "lm_head"
    return W.get(f"language_model.{name}.weight", _embed_table(config, W))


def _lm_layer(config, W, l):
    """One decoder layer's weights under Qwen2 names; InternLM2's interleaved wqkv is split:
    rows viewed [KV][G+2][hd], in group j blocks 0..G-1 are query heads j*G.., block G the
    key head j and block G+1 the value head j (spec 2d)."""
    q = f"language_model.model.layers.{l}."
    if not _is_internlm2(config):
        a = q + "self_attn."
        return {"attn_norm": W[q + "input_layernorm.weight"],
                "wq": W[a + "q_proj.weight"], "bq": W[a + "q_proj.bias"],
                "wk": W[a + "k_proj.weight"], "bk": W[a + "k_proj.bias"],
                "wv": W[a + "v_proj.weight"], "bv": W[a + "v_proj.bias"],
                "wo": W[a + "o_proj.weight"], "bo": None,
                "ffn_norm": W[q + "post_attention_layernorm.weight"],
                "gate": W[q + "mlp.gate_proj.weight"], "up": W[q + "mlp.up_proj.weight"],
                "down": W[q + "mlp.down_proj.weight"]}
    lc = config["llm_config"]
    heads, kv = lc["num_attention_heads"], lc["num_key_value_heads"]
    hd = lc["hidden_size"] // heads
    g = heads // kv

    def split(t):
        t = t.reshape(kv, g + 2, hd, -1)
        return (t[:, :g].reshape(heads * hd, -1), t[:, g].reshape(kv * hd, -1),
                t[:, g + 1].reshape(kv * hd, -1))

    wq, wk, wv = split(W[q + "attention.wqkv.weight"])
    bias = W.get(q + "attention.wqkv.bias")
    bq, bk, bv = (b.reshape(-1) for b in split(bias)) if bias is not None else (None,) * 3
    return {"attn_norm": W[q + "attention_norm.weight"], "wq": wq, "bq": bq, "wk": wk,
            "bk": bk, "wv": wv, "bv": bv, "wo": W[q + "attention.wo.weight"],
            "bo": W.get(q + "attention.wo.bias"), "ffn_norm": W[q + "ffn_norm.weight"],
            "gate": W[q + "feed_forward.w1.weight"], "up": W[q + "feed_forward.w3.weight"],
            "down": W[q + "feed_forward.w2.weight"]}


def language_forward(config, W, embeds, cache=None):
    """embeds [T, Dl] at positions P..P+T-1, P = the cached length -> logits [T, V].

    cache (a list filled per layer) holds the rotated keys and the values of earlier calls,
    as transformers' DynamicCache does; with dynamic NTK each call rotates its own rows with
    the base for its end position, so cached keys keep the base they were computed with."""
    lc = config["llm_config"]
    p = "language_model.model."
    heads, kv = lc["num_attention_heads"], lc.get("num_key_value_heads", lc["num_attention_heads"])
    hd = lc.get("head_dim") or lc["hidden_size"] // heads
    eps = lc.get("rms_norm_eps", 1e-6)
    t = embeds.shape[0]
    if cache is None:
        cache = []
    past = cache[0][0].shape[0] if cache else 0
    positions = torch.arange(past, past + t)
    theta = rope_theta(lc, past + t)
    mask = torch.full((t, past + t), float("-inf")).triu(past + 1)
    x = embeds
    for l in range(lc["num_hidden_layers"]):
        w = _lm_layer(config, W, l)
        h = _rms_norm(x, w["attn_norm"], eps)
        qq = F.linear(h, w["wq"], w["bq"])
        kk = F.linear(h, w["wk"], w["bk"])
        vv = F.linear(h, w["wv"], w["bv"])
        qq = _rope(qq.reshape(t, heads, hd), positions, theta)
        kk = _rope(kk.reshape(t, kv, hd), positions, theta)
        vv = vv.reshape(t, kv, hd)
        if len(cache) <= l:
            cache.append((kk, vv))
        else:
            kk = torch.cat([cache[l][0], kk], dim=0)
            vv = torch.cat([cache[l][1], vv], dim=0)
            cache[l] = (kk, vv)
        # GQA: query head h reads kv head h // (heads / kv).
        kk = kk.repeat_interleave(heads // kv, dim=1)
        vv = vv.repeat_interleave(heads // kv, dim=1)
        s = torch.einsum("qhd,khd->hqk", qq, kk) * hd ** -0.5 + mask
        att = torch.einsum("hqk,khd->qhd", torch.softmax(s, dim=-1), vv).reshape(t, heads * hd)
        x = x + F.linear(att, w["wo"], w["bo"])
        h = _rms_norm(x, w["ffn_norm"], eps)
        x = x + F.linear(F.silu(F.linear(h, w["gate"])) * F.linear(h, w["up"]), w["down"])
    x = _rms_norm(x, W[p + "norm.weight"], eps)
    return F.linear(x, _lm_head(config, W))


def embed_prompt(config, W, ids, image_embeds, image_token):
    """Token embeddings, with the k-th image_token position taking image row k (spec 6.7)."""
    x = _embed_table(config, W)[torch.tensor(ids)].clone()
    pos = [i for i, t in enumerate(ids) if t == image_token]
    if image_embeds is not None:
        rows = image_embeds.reshape(-1, image_embeds.shape[-1])
        if len(pos) != rows.shape[0]:
            raise ValueError(f"{len(pos)} image tokens for {rows.shape[0]} image rows")
        x[torch.tensor(pos)] = rows
    return x


def greedy(config, W, embeds, n_new):
    """n_new greedy tokens with a KV cache as generate() runs them (no stop on eos); also the
    last prompt position's logits and each step's gap between the top two logits."""
    cache = []
    logits = language_forward(config, W, embeds, cache)[-1]
    first_logits, tokens, gaps = logits, [], []
    table = _embed_table(config, W)
    for _ in range(n_new):
        top = torch.topk(logits, 2)
        tok = int(top.indices[0])
        tokens.append(tok)
        gaps.append(float(top.values[0] - top.values[1]))
        logits = language_forward(config, W, table[tok][None, :], cache)[-1]
    return first_logits, tokens, gaps


def test_pixels(n_tiles, size):
    """The deterministic tiles the goldens use; tests/unit/test-model-golden.c computes the
    same values: v = ((t*7 + c*5 + y*3 + x) % 29) / 14 - 1, exact in f32."""
    t = torch.arange(n_tiles).reshape(-1, 1, 1, 1)
    c = torch.arange(3).reshape(1, -1, 1, 1)
    y = torch.arange(size).reshape(1, 1, -1, 1)
    x = torch.arange(size).reshape(1, 1, 1, -1)
    return (((t * 7 + c * 5 + y * 3 + x) % 29).float() / 14.0 - 1.0)


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    cfg, weights = load_model_dir(sys.argv[1])
    size = cfg.get("force_image_size") or cfg["vision_config"]["image_size"]
    vit = vision_forward(cfg, weights, test_pixels(1, size))
    emb = project(cfg, weights, vit)
    print("vit", tuple(vit.shape), float(vit.sum()), "proj", tuple(emb.shape), float(emb.sum()))
