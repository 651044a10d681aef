#!/usr/bin/python3
"""Trains the tiny stand-in of InternVL3-9B's tokenizer: tests/data/tokenizer/internlm3-tiny/.

Run from the repository root with Debian's Python and spm_train (packages sentencepiece,
python3-sentencepiece):  /usr/bin/python3 tests/reference/make_spm_tokenizer.py

The real file (InternLM3's tokenizer.model, 128k pieces) is not in this repository, so the
tests use a SentencePiece model of the same kind trained on the repository's own text: BPE,
byte fallback, the chat markers <|im_start|> and <|im_end|> as user-defined symbols inside
the vocabulary, <unk> <s> </s> at 0 1 2, digits split, no whitespace folding. InternVL's
nine tokens (<img> ... </box>) are added beyond the SentencePiece vocabulary, as the 9B's
added_tokens.json does, and tokenizer_config.json names the class InternLM3Tokenizer.
Training is single-threaded and unshuffled, so the model is the same on every run.
"""

import json
import os
import subprocess
import sys
import tempfile

import sentencepiece as spm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tokenizer_goldens import CASES  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "data", "tokenizer", "internlm3-tiny")
VOCAB = 3000
USER_SYMBOLS = ["<|im_start|>", "<|im_end|>"]
INTERNVL_TOKENS = ["<img>", "</img>", "<IMG_CONTEXT>", "<quad>", "</quad>", "<ref>", "</ref>",
                   "<box>", "</box>"]
CORPUS_FILES = ["README.md", "po/zh_CN.po", "cuda-emu/README.md"]


def corpus_lines():
    for name in CORPUS_FILES:
        with open(os.path.join(ROOT, name), encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield line.rstrip("\n")
    for _, text in CASES:
        if isinstance(text, str):
            yield from (line for line in text.split("\n") if line.strip())


def added_entry(content):
    return {"content": content, "lstrip": False, "normalized": False, "rstrip": False,
            "single_word": False, "special": True}


def main():
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        # Relative names: the model records its training input and prefix.
        corpus, prefix = "corpus.txt", "tiny"
        with open(os.path.join(tmp, corpus), "w", encoding="utf-8") as f:
            for line in corpus_lines():
                f.write(line + "\n")
        subprocess.run([
            "spm_train", f"--input={corpus}", f"--model_prefix={prefix}", "--model_type=bpe",
            f"--vocab_size={VOCAB}", "--byte_fallback=true", "--character_coverage=0.9995",
            "--split_digits=true", "--allow_whitespace_only_pieces=true",
            "--remove_extra_whitespaces=false", "--normalization_rule_name=identity",
            f"--user_defined_symbols={','.join(USER_SYMBOLS)}", "--unk_id=0", "--bos_id=1",
            "--eos_id=2", "--pad_id=-1", "--num_threads=1", "--shuffle_input_sentence=false",
            "--input_sentence_size=0", "--minloglevel=2"], check=True, cwd=tmp)
        with open(os.path.join(tmp, prefix + ".model"), "rb") as f:
            model = f.read()
    with open(os.path.join(OUT, "tokenizer.model"), "wb") as f:
        f.write(model)

    sp = spm.SentencePieceProcessor(model_proto=model)
    n = sp.get_piece_size()
    decoder = {str(i): added_entry(sp.id_to_piece(i)) for i in (0, 1, 2)}
    for s in USER_SYMBOLS:
        decoder[str(sp.piece_to_id(s))] = added_entry(s)
    added = {}
    for k, s in enumerate(INTERNVL_TOKENS):
        decoder[str(n + k)] = added_entry(s)
        added[s] = n + k
    config = {
        "add_bos_token": True,
        "add_eos_token": False,
        "add_prefix_space": True,
        "added_tokens_decoder": decoder,
        "additional_special_tokens": USER_SYMBOLS + INTERNVL_TOKENS,
        "auto_map": {"AutoTokenizer": ["tokenization_internlm3.InternLM3Tokenizer", None]},
        "bos_token": "<s>",
        "clean_up_tokenization_spaces": False,
        "eos_token": "</s>",
        "model_max_length": 16384,
        "pad_token": "</s>",
        "sp_model_kwargs": {},
        "spaces_between_special_tokens": False,
        "tokenizer_class": "InternLM3Tokenizer",
        "unk_token": "<unk>",
        "use_default_system_prompt": False,
    }
    with open(os.path.join(OUT, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2, ensure_ascii=False)
        f.write("\n")
    with open(os.path.join(OUT, "added_tokens.json"), "w", encoding="utf-8") as f:
        json.dump(added, f, indent=2, ensure_ascii=False)
        f.write("\n")
    special_map = {"additional_special_tokens": USER_SYMBOLS + INTERNVL_TOKENS,
                   "bos_token": "<s>", "eos_token": "</s>", "pad_token": "</s>",
                   "unk_token": "<unk>"}
    with open(os.path.join(OUT, "special_tokens_map.json"), "w", encoding="utf-8") as f:
        json.dump(special_map, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {OUT}: {n} pieces + {len(INTERNVL_TOKENS)} added tokens")


if __name__ == "__main__":
    main()
