#!/usr/bin/python3
"""Writes tests/data/tokenizer-spm-goldens.json for the 9B-style tokenizer.

Run from the repository root with Debian's Python (python3-sentencepiece):
  /usr/bin/python3 tests/reference/make_spm_goldens.py
The tokenizer is tests/data/tokenizer/internlm3-tiny (make_spm_tokenizer.py); the texts are
the Qwen tokenizer's corpus (make_tokenizer_goldens.py) plus InternLM's own markers. Each
case: the input as hex (invalid UTF-8 is decoded with errors="replace" first, as ivl does),
ids without BOS, decode(ids) and decode(ids, skip_special_tokens=True). Then id sequences
drawn at random over the whole vocabulary (byte pieces, controls, added tokens), with both
decodings: they take the paths text never reaches (half characters, a lone <s>).
"""

import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from internlm3_tokenizer import InternLM3Tokenizer  # noqa: E402
from make_tokenizer_goldens import CASES, random_cases  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOKENIZER = "tests/data/tokenizer/internlm3-tiny"
OUT = os.path.join(ROOT, "tests", "data", "tokenizer-spm-goldens.json")

EXTRA = [
    ("bos-in-text", "<s>Hello</s> <unk>"),
    ("internlm-chat", "<s><|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\n"
                      "<img><IMG_CONTEXT><IMG_CONTEXT></img>\nWhat is it?<|im_end|>\n"
                      "<|im_start|>assistant\n"),
    ("leading-spaces", "   three leading, two trailing  "),
    ("newline-first", "\nstarts with a newline"),
    ("space-around-added", "a <img> b</img>c <|im_end|> d"),
]


def random_id_cases(tok, count, seed=20251207):
    rng = random.Random(seed)
    pool = list(range(tok.vocab_size + len(tok.added_decoder)))
    bytes_ids = [i for i in range(tok.vocab_size) if tok.sp.is_byte(i)]
    out = []
    for k in range(count):
        n = rng.randint(1, 12)
        ids = [rng.choice(bytes_ids if rng.random() < 0.4 else pool) for _ in range(n)]
        ids = [i if i < tok.vocab_size or i in tok.added_decoder else 0 for i in ids]
        out.append({"name": f"ids-{k:03d}", "ids": ids, "decoded": tok.decode(ids),
                    "decoded_skip": tok.decode(ids, skip_special_tokens=True)})
    return out


def main():
    tok = InternLM3Tokenizer(os.path.join(ROOT, TOKENIZER))
    cases = []
    for name, text in CASES + EXTRA + random_cases(300):
        raw = text if isinstance(text, bytes) else text.encode("utf-8")
        text = raw.decode("utf-8", errors="replace")
        ids = tok.encode(text)
        cases.append({"name": name, "hex": raw.hex(), "ids": ids, "decoded": tok.decode(ids),
                      "decoded_skip": tok.decode(ids, skip_special_tokens=True)})
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump({"generator": "tests/reference/make_spm_goldens.py", "tokenizer": TOKENIZER,
                   "bos_id": tok.bos_id, "cases": cases,
                   "id_cases": random_id_cases(tok, 300)},
                  f, ensure_ascii=True, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(cases)} text cases and 300 id cases to {OUT}")


if __name__ == "__main__":
    main()
