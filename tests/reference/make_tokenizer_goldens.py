#!/usr/bin/python3
"""Writes tests/data/tokenizer-goldens.json with the independent Python reference.

Run from the repository root with Debian's Python (python3-regex):
  /usr/bin/python3 tests/reference/make_tokenizer_goldens.py
Each case: name, the input as hex bytes (some are not valid UTF-8: the reference decodes them
with errors="replace" first, as ivl documents), the expected ids, and decode(ids).
"""

import json
import os
import random
import sys
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qwen2_tokenizer import Qwen2Tokenizer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOKENIZER_DIR = os.path.join(ROOT, "tests", "data", "tokenizer", "qwen2.5")
OUT = os.path.join(ROOT, "tests", "data", "tokenizer-goldens.json")

SPECIALS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>",
    "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>", "<img>", "</img>", "<IMG_CONTEXT>", "<quad>", "</quad>",
    "<ref>", "</ref>", "<box>", "</box>",
]

CASES = [
    ("empty", ""),
    ("prose", "Hello world! The quick brown fox jumps over the lazy dog. It's 5 o'clock."),
    ("code", 'def f(x):\n    return {"a": x ** 2, \'b\': [1, 2]}  # comment\n\tif x != -1: pass\n'),
    ("c-code", "int main(void) {\n  printf(\"%d\\n\", a[i]++);\n  return 0;\n}\n"),
    ("numbers", "1 12 123 1234567890 3.14159 -42 1,000,000 0x1F 2025-01-02"),
    ("contractions", "I'm you're he's we've they'll I'd don't isn't"),
    ("contractions-case", "I'M YOU'RE HE'S WE'VE THEY'LL I'D DON'T 'S 'T 'Re 'vE 'lL 'D"),
    ("contraction-long-s", "it'ſ 'ſ 'K"),
    ("apostrophes", "'' ''s 's's 'x 'sx rock'n'roll"),
    ("cjk", "你好，世界！这是一个测试。日本語のテキスト。한국어 텍스트입니다."),
    ("emoji", "I ❤️ 🦀 and 👩‍👩‍👧‍👦 families 🇫🇷 👍🏽 𝕏 𝓗𝓮𝓵𝓵𝓸"),
    ("four-byte", "𠜎𠜱𠝹𠱓 𐍈 🀄 \U0001F9FF"),
    ("combining-nfc", "e\u0301 a\u0308 Cafe\u0301 \u1100\u1161\u11a8 A\u030a \u212b \u2126"),
    ("combining-marks", "n\u0303o\u0302\u0323 \u0915\u094d\u0937 x\u0338 \u05e9\u05c1\u05b8"),
    ("nfc-greater-than", "<img>\u0338 a>\u0338b"),
    ("whitespace-runs", "a  b   c    d\t\te \u00a0f\u3000g"),
    ("trailing-spaces", "line with trailing spaces   \nnext   "),
    ("crlf", "one\r\ntwo\r\n\r\nthree\rfour"),
    ("newlines", "\n\n\na\n \n  \n\t\n"),
    ("only-spaces", "     "),
    ("unicode-spaces", "a\u2028b\u2029c\u0085d\u1680e\u2003f\u202fg\u205fh\x0bi\x0cj"),
    ("py-space-not-ws", "a\x1cb\x1dc\x1e d\x1f\x1f e"),
    ("control", "a\x00b\x01\x7f c\x1b[0m"),
    ("nul-pieces", "\x00a \x00b\x00\x00 \x00a\x00"),
    ("punctuation", "Hello!!! ... ??? -- ;; (a) [b] {c} \"q\" «g» “smart” ‘quotes’ …"),
    ("digits-other", "٣٤٥ ²³ Ⅻ ½ ①② 𝟙𝟚 ໓"),
    ("mixed-scripts", "Привет, мир! Γειά σου κόσμε! مرحبا بالعالم שלום עולם"),
    ("url", "https://example.com/path?q=1&r=two#frag user@mail.org"),
    ("markdown", "# Title\n\n- item **bold** _it_\n\n```c\nx = 1;\n```\n"),
    ("specials-in-text", "a" + "b".join(SPECIALS) + "c"),
    ("specials-adjacent", "".join(SPECIALS)),
    ("special-near-miss", "<|im_start| <|im_end|x <img <IMG_CONTEXT >img< <|endoftext|"),
    ("chat", "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\n"
             "<image>\nWhat is this?<|im_end|>\n<|im_start|>assistant\n"),
    ("image-tokens", "<img>" + "<IMG_CONTEXT>" * 7 + "</img>\nDescribe"),
    ("long-letters", "a" * 3000),
    ("long-word", "pneumonoultramicroscopicsilicovolcanoconiosis" * 20),
    ("long-digits", "9876543210" * 50),
    ("long-spaces", " " * 2000 + "x" + "\n" * 500),
    ("long-punct", "!?" * 800),
    ("invalid-lone-continuation", b"ab\x80cd"),
    ("invalid-truncated", b"x\xe4\xbd"),
    ("invalid-mixed", b"\xff\xfe ok \xc3\x28 \xed\xa0\x80 \xf0\x9f\x98 \xf4\x90\x80\x80 \xe0\x80\xaf"),
    ("invalid-overlong", b"\xc0\xaf\xc1\xbf\xe0\x9f\xbf"),
]

# Random strings over characters that stress the regex classes, NFC and the byte map.
POOL = (list("abcXYZ019 '\n\r\t.,!?-_<>|") + ["'s", "'LL", "'ſ", " ", "  ", "\u00a0", "\u3000",
        "\u2028", "\x1c", "\x85", "\u200b", "你", "好", "。", "é", "e\u0301", "\u0301", "\u0338",
        "ß", "ﬁ", "Ａ", "１", "²", "Ⅻ", "٣", "🦀", "👍🏽", "\u200d", "𝕏", "ñ", "Я", "ω",
        "\U000E0001", "\ufeff", "<|im_end|>", "<img>", "<IMG_CONTEXT>", "\r\n"])


def random_cases(count, seed=20251127):
    rng = random.Random(seed)
    out = []
    for i in range(count):
        n = rng.randint(1, 24)
        out.append((f"random-{i:03d}", "".join(rng.choice(POOL) for _ in range(n))))
    return out


def main():
    tok = Qwen2Tokenizer(TOKENIZER_DIR)
    cases = []
    for name, text in CASES + random_cases(300):
        raw = text if isinstance(text, bytes) else text.encode("utf-8")
        text = raw.decode("utf-8", errors="replace")
        ids = tok.encode(text)
        assert tok.decode(ids) == unicodedata.normalize("NFC", text), name
        cases.append({"name": name, "hex": raw.hex(), "ids": ids, "decoded": tok.decode(ids)})
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump({"generator": "tests/reference/make_tokenizer_goldens.py",
                   "tokenizer": "tests/data/tokenizer/qwen2.5", "cases": cases},
                  f, ensure_ascii=True, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
