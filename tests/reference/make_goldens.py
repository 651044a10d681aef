#!/usr/bin/python3
"""Regenerates tests/reference/goldens/*.json from internvl_ref.py.

Each golden is for one tiny model of engine/tiny-model (its parameters and the sha256 of the
files it writes are stored, so a changed generator is detected rather than misread as an
engine bug), deterministic test tiles, and synthetic prompt ids laid out as chat() lays a
one-image prompt out (text, <img>, 256*n image tokens, </img>, text). The prompt ids do not
go through a tokenizer: the golden models have a small vocabulary and the image token is
stored with them.

    /usr/bin/python3 tests/reference/make_goldens.py BUILD_DIR [NAME...]
(BUILD_DIR holds tests/test-model-golden, which writes the models with the C generator.)
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import internvl_ref as ref  # noqa: E402
import quantize_ref  # noqa: E402

BASE = dict(seed=0, llm_arch="qwen2", dtype="bf16", n_shards=0, vision_6b=False, vision_hidden=64,
            vision_layers=2, vision_heads=4, vision_ffn=128, llm_hidden=256, llm_layers=2,
            llm_heads=4, llm_kv_heads=2, llm_ffn=512, llm_vocab=1024,
            max_position_embeddings=32768)

# name -> (model parameters, tiles): both vision layouts, GQA ratios 1, 2 and 7, head dims 64
# and 128, bf16 and f32 weights, single and sharded files, the InternLM2 layout (9B), and
# one model whose prompt runs past max_position_embeddings so dynamic NTK is in play.
CASES = {
    "vit300m-gqa2-hd64-bf16-2tiles": (dict(BASE, seed=1), 2),
    "vit6b-gqa7-hd64-f32-3shards": (dict(BASE, seed=2, dtype="f32", n_shards=3, vision_6b=True,
                                         llm_hidden=448, llm_heads=7, llm_kv_heads=1,
                                         llm_ffn=640), 1),
    "vit300m-gqa1-hd128-bf16-2shards": (dict(BASE, seed=3, n_shards=2, llm_heads=2,
                                             llm_kv_heads=2, llm_ffn=384), 1),
    "vit300m-internlm2-gqa2-hd64-bf16": (dict(BASE, seed=5, llm_arch="internlm2",
                                              llm_heads=4, llm_kv_heads=2), 1),
    "vit6b-gqa2-hd128-bf16-ntk": (dict(BASE, seed=4, vision_6b=True, llm_hidden=512,
                                       llm_heads=4, llm_kv_heads=2, llm_ffn=768,
                                       max_position_embeddings=200), 1),
}
# Models loaded with quantized Linear weights (ivl --precision): the reference runs on the
# weights quantize_ref.py dequantizes, so the comparison is as tight as for bf16. The 4-bit
# case uses the InternLM2 layout, whose q, k, v rows are gathered out of the fused wqkv.
QUANT_CASES = {
    "vit300m-gqa2-hd64-int8": (dict(BASE, seed=1), 1, "int8"),
    "vit300m-internlm2-gqa2-hd64-4bit": (dict(BASE, seed=5, llm_arch="internlm2", llm_heads=4,
                                              llm_kv_heads=2), 1, "4bit"),
}

# A whole chat() turn on a tiny model with the real Qwen2.5 vocabulary: the prompt rendered
# from the internvl2_5 template (spec 5) and tokenized by the text helper's independent
# reference tokenizer, then greedy decoding to <|im_end|> or CHAT_NEW tokens.
# With an image, the tiles come from the quick start's own preprocessing
# (make_media_goldens.py: Pillow + torchvision), kept in f32 as the engine feeds them.
CHAT_MODEL = dict(BASE, seed=21, llm_hidden=64, llm_heads=4, llm_kv_heads=2, llm_ffn=128,
                  llm_vocab=151674)
CHAT_CASES = {
    "chat-text-qwen2": (CHAT_MODEL, None, 0),
    "chat-image-qwen2": (CHAT_MODEL, "data/demo/red-panda.jpg", 6),
}
# The same turn on a 9B-style model: InternLM2 layout with the tiny InternLM3-style
# SentencePiece tokenizer (make_spm_tokenizer.py; 3000 pieces + 9 added = 3009 ids), tokenized
# by internlm3_tokenizer.py, BOS first (add_bos_token).
CHAT_MODEL_9B = dict(BASE, seed=22, llm_arch="internlm2", llm_hidden=64, llm_heads=4,
                     llm_kv_heads=2, llm_ffn=128, llm_vocab=3009)
CHAT_CASES_9B = {
    "chat-text-internlm2": (CHAT_MODEL_9B, None, 0),
    "chat-image-internlm2": (CHAT_MODEL_9B, "data/demo/red-panda.jpg", 6),
}
TOKENIZERS = {"qwen2": "tests/data/tokenizer/qwen2.5",
              "internlm2": "tests/data/tokenizer/internlm3-tiny"}
CHAT_QUESTION = "Describe a red panda in one sentence, please."
CHAT_NEW = 16
# The template's default system message (spec 5), from its UTF-8 bytes.
SYSTEM = bytes.fromhex(
    "e4bda0e698afe4b9a6e7949fc2b7e4b887e8b1a1efbc8ce88bb1e69687e5908de698af496e7465726e564c"
    "efbc8ce698afe794b1e4b88ae6b5b7e4babae5b7a5e699bae883bde5ae9ee9aa8ce5aea4e38081e6b885e5"
    "8d8ee5a4a7e5ada6e58f8ae5a49ae5aeb6e59088e4bd9ce58d95e4bd8de88194e59088e5bc80e58f91e79a"
    "84e5a49ae6a8a1e68081e5a4a7e8afade8a880e6a8a1e59e8be38082").decode("utf-8")

N_GREEDY = 32
HEAD = 8  # leading values stored per listed row


def summary(x, rows):
    x2 = x.reshape(-1, x.shape[-1])
    return {
        "rows": x2.shape[0], "cols": x2.shape[1],
        "sum": float(x2.double().sum()), "abs_sum": float(x2.double().abs().sum()),
        "rows_head": {str(r): [float(v) for v in x2[r, :HEAD]] for r in rows},
    }


def prompt_ids(vocab, image_token, n_image_rows):
    # Text ids are arbitrary but fixed; <img>/</img> stand-ins are vocab-3 and vocab-2.
    head = [(7 * i + 3) % (vocab - 8) for i in range(17)]
    tail = [(11 * i + 5) % (vocab - 8) for i in range(9)]
    ids = head + [vocab - 3] + [image_token] * n_image_rows + [vocab - 2] + tail
    rle = []
    for t in ids:
        if rle and rle[-1][0] == t:
            rle[-1][1] += 1
        else:
            rle.append([t, 1])
    return ids, rle


def write_model(params, build, tmp, tokenizer=None):
    golden = {"model": params}
    if tokenizer:
        golden["tokenizer"] = tokenizer
    spec = os.path.join(tmp, "golden.json")
    with open(spec, "w") as f:
        json.dump(golden, f)
    model = os.path.join(tmp, "model")
    subprocess.run([os.path.join(build, "tests", "test-model-golden"), "--write-model",
                    model, spec], check=True)
    sha = {n: hashlib.sha256(open(os.path.join(model, n), "rb").read()).hexdigest()
           for n in sorted(os.listdir(model)) if n.endswith(".safetensors")}
    return model, sha


def quick_start_tiles(path, max_num):
    from PIL import Image
    import make_media_goldens as mm
    image = Image.open(path).convert("RGB")
    tiles, _ = mm.dynamic_preprocess(image, max_num=max_num, image_size=448, use_thumbnail=True)
    transform = mm.build_transform(448)
    return torch.stack([transform(t) for t in tiles])


def make_chat(name, params, image, max_num, build, out_dir):
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    tok_rel = TOKENIZERS[params["llm_arch"]]
    if params["llm_arch"] == "internlm2":
        from internlm3_tokenizer import InternLM3Tokenizer
        tok = InternLM3Tokenizer(os.path.join(root, tok_rel))
        ref_name = "tests/reference/internlm3_tokenizer.py"
    else:
        from qwen2_tokenizer import Qwen2Tokenizer
        tok = Qwen2Tokenizer(os.path.join(root, tok_rel))
        ref_name = "tests/reference/qwen2_tokenizer.py"
    golden = {"what": "one chat() turn: tests/reference/internvl_ref.py in f32 with " + ref_name,
              "kind": "chat", "generator": "engine/tiny-model.c (ivl_tiny_model_write)",
              "model": params, "tokenizer": tok_rel, "question": CHAT_QUESTION,
              "max_new_tokens": CHAT_NEW}
    if image:
        golden["image"] = image
        golden["max_num"] = max_num
    with tempfile.TemporaryDirectory() as tmp:
        model, golden["sha256"] = write_model(params, build, tmp)
        config, W = ref.load_model_dir(model)
    question, rows, image_token = CHAT_QUESTION, None, -1
    if image:
        pixels = quick_start_tiles(os.path.join(root, image), max_num)
        rows = ref.project(config, W, ref.vision_forward(config, W, pixels))
        # chat() step 1 and 5 (spec 6): "<image>\n" first, then the expansion.
        question = ("<img>" + "<IMG_CONTEXT>" * rows.shape[0] * rows.shape[1] + "</img>\n"
                    + CHAT_QUESTION)
        image_token = tok.encode("<IMG_CONTEXT>")[0]
    prompt = (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{question}"
              "<|im_end|>\n<|im_start|>assistant\n")
    ids = tok.encode(prompt, add_special_tokens=True) if params["llm_arch"] == "internlm2" \
        else tok.encode(prompt)
    embeds = ref.embed_prompt(config, W, ids, rows, image_token)
    _, tokens, gaps = ref.greedy(config, W, embeds, CHAT_NEW)
    eos = tok.encode("<|im_end|>")[0]
    if eos in tokens:
        tokens = tokens[:tokens.index(eos)]
    golden["prompt_ids"] = ids
    golden["generated_ids"] = tokens
    golden["gaps"] = gaps[:len(tokens)]
    golden["answer"] = tok.decode(tokens, skip_special_tokens=True).split("<|im_end|>")[0].strip()
    with open(os.path.join(out_dir, name + ".json"), "w") as f:
        json.dump(golden, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(name, "prompt", len(ids), "tokens", tokens[:8], "...")


def make(name, params, n_tiles, build, out_dir, precision="bf16"):
    golden = {"what": "tests/reference/internvl_ref.py outputs for a tiny model, f32",
              "generator": "engine/tiny-model.c (ivl_tiny_model_write)",
              "model": params, "n_tiles": n_tiles, "precision": precision,
              "pixels": "((t*7 + c*5 + y*3 + x) % 29) / 14 - 1"}
    with tempfile.TemporaryDirectory() as tmp:
        model, golden["sha256"] = write_model(params, build, tmp)
        config, W = ref.load_model_dir(model)
    W = quantize_ref.apply(W, precision)

    size = config["vision_config"]["image_size"]
    vit = ref.vision_forward(config, W, ref.test_pixels(n_tiles, size))
    t = vit.shape[1]
    golden["vision"] = summary(vit, [0, 1, t - 1, (n_tiles - 1) * t + 5])
    emb = ref.project(config, W, vit)
    per = emb.shape[1]
    golden["embeds"] = summary(emb, [0, 17, n_tiles * per - 1])

    vocab = config["llm_config"]["vocab_size"]
    image_token = vocab - 1
    ids, rle = prompt_ids(vocab, image_token, n_tiles * per)
    golden["image_token"] = image_token
    golden["prompt_ids_rle"] = rle
    embeds = ref.embed_prompt(config, W, ids, emb, image_token)
    logits, tokens, gaps = ref.greedy(config, W, embeds, N_GREEDY)
    stride = 7
    top = torch.topk(logits, 20)
    golden["logits"] = {
        "n_prompt": len(ids), "max_abs": float(logits.abs().max()), "stride": stride,
        "samples": [float(v) for v in logits[::stride]],
        "top": [[int(i), float(v)] for v, i in zip(top.values, top.indices)],
    }
    golden["greedy"] = {"tokens": tokens, "gaps": gaps}
    with open(os.path.join(out_dir, name + ".json"), "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")
    print(name, "prompt", len(ids), "tokens", tokens[:8], "...")


def main():
    torch.set_grad_enabled(False)
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "goldens")
    os.makedirs(out_dir, exist_ok=True)
    only = set(sys.argv[2:])  # names to regenerate; none: all

    def wanted(name):
        return not only or name in only
    for name, (params, n_tiles) in CASES.items():
        if wanted(name):
            make(name, params, n_tiles, build, out_dir)
    for name, (params, n_tiles, precision) in QUANT_CASES.items():
        if wanted(name):
            make(name, params, n_tiles, build, out_dir, precision)
    for name, (params, image, max_num) in {**CHAT_CASES, **CHAT_CASES_9B}.items():
        if wanted(name):
            make_chat(name, params, image, max_num, build, out_dir)


if __name__ == "__main__":
    main()
