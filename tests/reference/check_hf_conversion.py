#!/usr/bin/python3
"""Checks `ivl make-tiny-model --layout hf` against transformers' own conversion.

Writes a tiny original repo and its "-hf" twin with the same seed, converts the original's
tensors the way src/transformers/models/internvl/convert_internvl_weights_to_hf.py does (its
key-mapping regexes, the vision qkv cut in three, InternLM2's wqkv de-interleaved with the
same rearrange), and requires the -hf files to hold exactly those tensors, bit for bit, and
a config with the keys that script's InternVLConfig writes. Both LM kinds are checked.

    /usr/bin/python3 tests/reference/check_hf_conversion.py   (needs $IVL; python3-torch)
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import torch

IVL = os.environ["IVL"]

VISION = {
    r"vision_model": r"vision_tower", r"layers": r"layer", r"class_embedding": r"cls_token",
    r"position_embedding": r"position_embeddings",
    r"patch_embedding": r"patch_embeddings.projection", r"ls(\d+)": r"lambda_\1",
    r"attn.proj": r"attention.projection_layer", r"attn.dropout": r"attention.projection_dropout",
    r"attn": r"attention", r"norm1": r"layernorm_before", r"norm2": r"layernorm_after",
}
TEXT_LLAMA = {
    r"tok_embeddings": r"embed_tokens", r"attention.wo": r"self_attn.o_proj",
    r"feed_forward.w1": r"mlp.gate_proj", r"feed_forward.w2": r"mlp.down_proj",
    r"feed_forward.w3": r"mlp.up_proj", r"attention_norm": r"input_layernorm",
    r"ffn_norm": r"post_attention_layernorm", r"output": r"lm_head",
}
MULTI = {r"mlp1.0": r"multi_modal_projector.layer_norm",
         r"mlp1.1": r"multi_modal_projector.linear_1",
         r"mlp1.3": r"multi_modal_projector.linear_2"}


def read_safetensors(path):
    dtypes = {"BF16": torch.bfloat16, "F32": torch.float32}
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[a:b]), dtype=dtypes[t["dtype"]]) \
            .reshape(t["shape"])
    return out


def rename(key, llama):
    table = VISION if key.startswith("vision_model") else \
        (TEXT_LLAMA if llama else {}) if key.startswith("language_model") else MULTI
    for pattern, replacement in table.items():
        key = re.sub(pattern, replacement, key)
    return key


def convert(state, text_config):
    llama = text_config["model_type"] == "llama"
    dim = state["vision_model.embeddings.class_embedding"].shape[-1]
    lm_dim = text_config["hidden_size"]
    out = {}
    for key, value in state.items():
        new_key = rename(key, llama)
        if "attn.qkv" in key:
            out[new_key.replace("attention.qkv", "attention.q_proj")] = value[:dim]
            out[new_key.replace("attention.qkv", "attention.k_proj")] = value[dim:2 * dim]
            out[new_key.replace("attention.qkv", "attention.v_proj")] = value[-dim:]
        elif "attention.wqkv" in key:
            groups = text_config["num_attention_heads"] // text_config["num_key_value_heads"]
            hd = text_config["head_dim"]
            # rearrange(w, "(h gs d) z -> h gs d z", gs=2 + groups, d=hd)
            v = value.reshape(-1, 2 + groups, hd, value.shape[-1])
            out[new_key.replace("attention.wqkv", "self_attn.q_proj")] = \
                v[:, :groups].reshape(-1, lm_dim)
            out[new_key.replace("attention.wqkv", "self_attn.k_proj")] = v[:, -2].reshape(-1, lm_dim)
            out[new_key.replace("attention.wqkv", "self_attn.v_proj")] = v[:, -1].reshape(-1, lm_dim)
        else:
            out[new_key] = value
    return out


def check_pair(llm_layout, vision_layout):
    with tempfile.TemporaryDirectory() as tmp:
        dirs = {}
        for layout in ("original", "hf"):
            dirs[layout] = os.path.join(tmp, layout)
            subprocess.run([IVL, "make-tiny-model", dirs[layout], "--seed", "7", "--layout", layout,
                            "--llm-layout", llm_layout, "--vision-layout", vision_layout,
                            "--llm-hidden", "32", "--llm-heads", "4", "--llm-kv-heads", "2",
                            "--vocab", "512"], check=True)
        with open(os.path.join(dirs["hf"], "config.json")) as f:
            config = json.load(f)
        assert config["architectures"] == ["InternVLForConditionalGeneration"], config
        assert config["model_type"] == "internvl" and config["image_seq_length"] == 256
        vc, tc = config["vision_config"], config["text_config"]
        assert "qkv_bias" not in vc and "qk_normalization" not in vc, vc
        assert vc["use_qk_norm"] == (vision_layout == "6b")
        assert vc["attention_bias"] == (vision_layout == "300m")
        assert tc["model_type"] == ("llama" if llm_layout == "internlm2" else "qwen2")
        if llm_layout == "qwen2":
            assert tc["eos_token_id"] == 151645
        want = convert(read_safetensors(os.path.join(dirs["original"], "model.safetensors")), tc)
        have = read_safetensors(os.path.join(dirs["hf"], "model.safetensors"))
        assert sorted(want) == sorted(have), sorted(set(want) ^ set(have))
        for name in want:
            assert want[name].shape == have[name].shape, name
            assert torch.equal(want[name], have[name]), name
        print(f"ok - {llm_layout} + {vision_layout}: {len(have)} tensors as the conversion makes "
              "them")


def main():
    torch.set_grad_enabled(False)
    for llm, vision in (("qwen2", "300m"), ("internlm2", "6b"), ("internlm2", "300m")):
        check_pair(llm, vision)


if __name__ == "__main__":
    sys.exit(main())
