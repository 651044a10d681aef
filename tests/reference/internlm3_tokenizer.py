"""A Python reference of InternVL3-9B's slow tokenizer (InternLM3Tokenizer) for the goldens.

The pieces come from python3-sentencepiece, the same library ivl links; what this file adds
is transformers' logic around it, written from tokenization_internlm3.py (Hub repo
internlm/internlm3-8b-instruct) and PreTrainedTokenizer.tokenize/_decode:
- encode: added tokens (and the named special tokens) split out first, leftmost then
  longest, never split; sp.encode(stretch) on each stretch between them (the model's own
  normalizer adds the dummy prefix once per stretch); BOS first when add_bos_token.
- decode: ids of special tokens dropped when skip_special_tokens; "legacy" added tokens (not
  special, or special but beyond the SentencePiece vocabulary) stand alone, the runs between
  them go through convert_tokens_to_string (kept when not empty); parts joined by " "
  (_decode's spaces_between_special_tokens=True).
- convert_tokens_to_string: the first token loses a leading "▁" when add_prefix_space;
  special tokens written verbatim, the pieces between them through sp.decode(pieces).
"""

import json
import os

import sentencepiece as spm

from added_tokens import split_added

SPIECE_UNDERLINE = "\u2581"
NAMED = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token",
         "mask_token")


class InternLM3Tokenizer:
    def __init__(self, directory):
        self.sp = spm.SentencePieceProcessor(model_file=os.path.join(directory,
                                                                     "tokenizer.model"))
        self.vocab_size = self.sp.get_piece_size()
        with open(os.path.join(directory, "tokenizer_config.json"), encoding="utf-8") as f:
            config = json.load(f)
        self.add_bos = config.get("add_bos_token", True)
        self.add_prefix_space = config.get("add_prefix_space", True)
        self.added = {}  # content -> id
        self.special = set()  # contents of all_special_tokens
        for sid, entry in config.get("added_tokens_decoder", {}).items():
            self.added[entry["content"]] = int(sid)
        path = os.path.join(directory, "added_tokens.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                for content, tid in json.load(f).items():
                    self.added.setdefault(content, tid)
        self.additional = list(config.get("additional_special_tokens", []))
        self.special.update(self.additional)
        for key in NAMED:
            if config.get(key):
                self.special.add(config[key])
                if config[key] not in self.added:
                    self.added[config[key]] = self.sp.piece_to_id(config[key])
        self.bos_id = self.added.get(config.get("bos_token") or "<s>")
        self.added_decoder = {v: k for k, v in self.added.items()}
        self.legacy = (set(self.added) - self.special) | {
            t for t in self.additional if self.added.get(t, -1) >= self.vocab_size}

    def split_added(self, text):
        return split_added(self.added, text)

    def encode(self, text, add_special_tokens=False):
        ids = [self.bos_id] if add_special_tokens and self.add_bos else []
        for is_added, piece in self.split_added(text):
            ids.extend([self.added[piece]] if is_added else self.sp.encode(piece))
        return ids

    def convert_tokens_to_string(self, tokens):
        tokens = list(tokens)
        if tokens[0].startswith(SPIECE_UNDERLINE) and self.add_prefix_space:
            tokens[0] = tokens[0][1:]
        current, out = [], ""
        for token in tokens:
            if token in self.special:
                out += self.sp.decode(current) + token
                current = []
            else:
                current.append(token)
        return out + self.sp.decode(current)

    def decode(self, ids, skip_special_tokens=False):
        tokens = []
        for i in ids:
            t = self.added_decoder.get(i)
            if t is None:
                t = self.sp.id_to_piece(i) if 0 <= i < self.vocab_size else ""
            if skip_special_tokens and t in self.special:
                continue
            tokens.append(t)
        parts, current = [], []
        for t in tokens:
            if t in self.legacy:
                if current:
                    s = self.convert_tokens_to_string(current)
                    if s:
                        parts.append(s)
                    current = []
                parts.append(t)
            else:
                current.append(t)
        if current:
            parts.append(self.convert_tokens_to_string(current))
        return " ".join(parts)
