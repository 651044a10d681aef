#!/usr/bin/python3
"""Writes the tiny 9B tokenizer as the 9B-hf repo has it: tests/data/tokenizer/internlm3-tiny-hf/.

Run from the repository root with Debian's Python (python3-sentencepiece, python3-protobuf):
    /usr/bin/python3 tests/reference/make_llama_tokenizer_json.py

transformers saves InternVL3-9B-hf's tokenizer as a LlamaTokenizerFast, whose tokenizer.json
is what LlamaConverter (src/transformers/convert_slow_tokenizer.py) makes of the SentencePiece
model. This script repeats that conversion by hand from the model proto of
tests/data/tokenizer/internlm3-tiny (no tokenizers or transformers package on Debian 12):
- vocabulary: every piece at its id (LlamaConverter.vocab keeps ids 0-2's names and the
  pieces' scores);
- merges: generate_merges(vocab, vocab_scores): every split of a piece into two pieces,
  within a piece ordered by (left id, right id), then all sorted by (piece score, left length,
  right length) descending, stably;
- model: BPE(unk_token=<unk>, fuse_unk=True, byte_fallback=True);
- added tokens: ids 0-2 special, the user-defined symbols not special (SpmConverter), then
  the slow tokenizer's added tokens (tokenizer_config.json's added_tokens_decoder);
- legacy (InternLM3Tokenizer has no "legacy" attribute, so getattr(..., True)): normalizer
  Sequence[Prepend("▁"), Replace(" ", "▁")], no pre-tokenizer; decoder Sequence[Replace("▁",
  " "), ByteFallback, Fuse, Strip(" ", 1, 0)].
The other files are the slow tokenizer's, with tokenizer_class LlamaTokenizerFast.
"""

import json
import os

from sentencepiece import sentencepiece_model_pb2 as model_pb2

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(ROOT, "tests", "data", "tokenizer", "internlm3-tiny")
OUT = os.path.join(ROOT, "tests", "data", "tokenizer", "internlm3-tiny-hf")
USER_DEFINED, CONTROL = 4, 3


def generate_merges(vocab, vocab_scores):
    merges = []
    for merge, piece_score in vocab_scores.items():
        local = []
        for index in range(1, len(merge)):
            piece_l, piece_r = merge[:index], merge[index:]
            if piece_l in vocab and piece_r in vocab:
                local.append((piece_l, piece_r, piece_score))
        local = sorted(local, key=lambda x: (vocab[x[0]], vocab[x[1]]))
        merges.extend(local)
    merges = sorted(merges, key=lambda val: (val[2], len(val[0]), len(val[1])), reverse=True)
    return [[left, right] for left, right, _ in merges]


def added(id_, content, special):
    return {"id": id_, "content": content, "single_word": False, "lstrip": False,
            "rstrip": False, "normalized": False, "special": special}


def main():
    proto = model_pb2.ModelProto()
    with open(os.path.join(SRC, "tokenizer.model"), "rb") as f:
        proto.ParseFromString(f.read())
    with open(os.path.join(SRC, "tokenizer_config.json"), encoding="utf-8") as f:
        config = json.load(f)
    vocab_scores = [("<unk>", 0.0), ("<s>", 0.0), ("</s>", 0.0)]
    vocab_scores += [(p.piece, p.score) for p in proto.pieces[3:]]
    vocab = {piece: i for i, (piece, _) in enumerate(vocab_scores)}
    merges = generate_merges(vocab, dict(vocab_scores))

    tokens = [added(i, vocab_scores[i][0], True) for i in range(3)]
    tokens += [added(i, p.piece, p.type == CONTROL) for i, p in enumerate(proto.pieces)
               if p.type == USER_DEFINED]
    known = {t["content"] for t in tokens}
    for id_, entry in sorted(config["added_tokens_decoder"].items(), key=lambda e: int(e[0])):
        if entry["content"] not in known:
            tokens.append(added(int(id_), entry["content"], entry["special"]))

    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": tokens,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "▁"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
        "pre_tokenizer": None,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<s>", "type_id": 1}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>",
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer, f, indent=2, ensure_ascii=False)
        f.write("\n")
    config["tokenizer_class"] = "LlamaTokenizerFast"
    config.pop("auto_map", None)
    config["legacy"] = True
    with open(os.path.join(OUT, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2, ensure_ascii=False)
        f.write("\n")
    with open(os.path.join(SRC, "special_tokens_map.json"), encoding="utf-8") as f:
        special_map = f.read()
    with open(os.path.join(OUT, "special_tokens_map.json"), "w", encoding="utf-8") as f:
        f.write(special_map)
    print(f"wrote {OUT}: {len(vocab)} pieces, {len(merges)} merges, {len(tokens)} added tokens")


if __name__ == "__main__":
    main()
