"""An independent Python reference of the Qwen2 byte-level BPE tokenizer.

Written from the behaviour of transformers' slow Qwen2Tokenizer (tokenization_qwen2.py and
PreTrainedTokenizer.tokenize/_decode): NFC on the whole text, added tokens split out
(leftmost, then longest) and never split, the pre-tokenizer regex (Python's `regex` module,
whose \\s is Unicode White_Space) on the text between them, GPT-2's byte-to-unicode map and
GPT-2's bpe() loop; decoding maps the characters back to bytes and decodes them with
errors="replace". Used only to write golden files; needs Debian's python3-regex.
"""

import json
import os
import unicodedata

import regex

from added_tokens import split_added

PRETOKENIZE_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def bytes_to_unicode():
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def get_pairs(word):
    return {(word[i], word[i + 1]) for i in range(len(word) - 1)}


class Qwen2Tokenizer:
    def __init__(self, directory):
        with open(os.path.join(directory, "vocab.json"), encoding="utf-8") as f:
            self.encoder = json.load(f)
        self.decoder = {v: k for k, v in self.encoder.items()}
        merges = []
        with open(os.path.join(directory, "merges.txt"), encoding="utf-8") as f:
            for i, line in enumerate(f):
                line = line.strip()
                if (i == 0 and line.startswith("#version:")) or not line:
                    continue
                merges.append(tuple(line.split()))
        self.bpe_ranks = dict(zip(merges, range(len(merges))))
        self.byte_encoder = bytes_to_unicode()
        self.byte_decoder = {v: k for k, v in self.byte_encoder.items()}
        self.pat = regex.compile(PRETOKENIZE_REGEX)
        self.cache = {}
        self.added = {}     # content -> id
        self.special = set()  # ids
        with open(os.path.join(directory, "tokenizer_config.json"), encoding="utf-8") as f:
            config = json.load(f)
        for sid, entry in config.get("added_tokens_decoder", {}).items():
            self.added[entry["content"]] = int(sid)
            if entry.get("special"):
                self.special.add(int(sid))
        path = os.path.join(directory, "added_tokens.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                for content, tid in json.load(f).items():
                    self.added.setdefault(content, tid)
        for content in config.get("additional_special_tokens", []):
            self.special.add(self.added[content])
        for key in ("eos_token", "pad_token"):
            if config.get(key):
                self.special.add(self.added[config[key]])
        self.added_decoder = {v: k for k, v in self.added.items()}

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token)
        pairs = get_pairs(word)
        while pairs:
            bigram = min(pairs, key=lambda pair: self.bpe_ranks.get(pair, float("inf")))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word = []
            i = 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                except ValueError:
                    new_word.extend(word[i:])
                    break
                new_word.extend(word[i:j])
                i = j
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
            pairs = get_pairs(word)
        self.cache[token] = word
        return word

    def split_added(self, text):
        return split_added(self.added, text)

    def encode(self, text):
        text = unicodedata.normalize("NFC", text)
        ids = []
        for is_added, piece in self.split_added(text):
            if is_added:
                ids.append(self.added[piece])
                continue
            for word in self.pat.findall(piece):
                mapped = "".join(self.byte_encoder[b] for b in word.encode("utf-8"))
                ids.extend(self.encoder[t] for t in self.bpe(mapped))
        return ids

    def decode(self, ids, skip_special_tokens=False):
        out = bytearray()
        for i in ids:
            if i in self.added_decoder:
                if not (skip_special_tokens and i in self.special):
                    out += self.added_decoder[i].encode("utf-8")
            elif i in self.decoder:
                out += bytes(self.byte_decoder[c] for c in self.decoder[i])
        return out.decode("utf-8", errors="replace")
