#!/usr/bin/python3
"""The "-hf" prompt: ivl's rendering against the published chat template run by Jinja.

The template below is convert_internvl_weights_to_hf.py's chat_template, copied from
transformers; a tiny -hf repo written by `ivl make-tiny-model --layout hf` must carry exactly
it. python3-jinja2 renders it as apply_chat_template does (messages, add_generation_prompt),
InternVLProcessor's expansion replaces each <image> by <img> + <IMG_CONTEXT> x 256 per tile
+ </img>, and `ivl prompt` must print the same text (its <IMG_CONTEXT>xN shorthand expanded)
and the same ids as the reference tokenizer gives for it: the quick start's text-only,
system-message and one-image cases, at several tile counts.

    /usr/bin/python3 tests/reference/check_hf_template.py   (needs $IVL; python3-jinja2)
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import jinja2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qwen2_tokenizer import Qwen2Tokenizer  # noqa: E402

IVL = os.environ["IVL"]
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
TOKENIZER = os.path.join(ROOT, "tests", "data", "tokenizer", "qwen2.5")

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\n'}}"
    "{% if message['content'] is string %}"
    "{{ message['content'] }}"
    "{% else %}"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}"
    "{{ '<image>\n' }}"
    "{% elif content['type'] == 'video' %}"
    "{{ '<video>\n' }}"
    "{% elif content['type'] == 'text' %}"
    "{{ content['text'] }}"
    "{% endif %}"
    "{% endfor %}"
    "{% endif %}"
    "{{'<|im_end|>\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}"
    "{{'<|im_start|>assistant\n' }}"
    "{% endif %}"
)

QUESTION = "Please describe the image shortly."


def check(cond, what):
    if not cond:
        sys.exit("FAIL: " + what)
    print("ok -", what)


def render(messages, tiles):
    # apply_chat_template's Jinja environment: trim_blocks and lstrip_blocks.
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    text = env.from_string(CHAT_TEMPLATE).render(messages=messages, add_generation_prompt=True)
    for n in tiles:  # InternVLProcessor: each <image> in order
        text = text.replace("<image>", "<img>" + "<IMG_CONTEXT>" * (256 * n) + "</img>", 1)
    return text


def ivl_prompt(model, *args):
    out = subprocess.run([IVL, "prompt", "-m", model, *args], capture_output=True, text=True,
                         check=True).stdout
    return re.sub(r"<IMG_CONTEXT>×(\d+)", lambda m: "<IMG_CONTEXT>" * int(m.group(1)), out)


def ivl_ids(model, *args):
    out = subprocess.run([IVL, "prompt", "-m", model, "--ids", *args], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)


def main():
    tok = Qwen2Tokenizer(TOKENIZER)
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "tiny-hf")
        subprocess.run([IVL, "make-tiny-model", model, "--layout", "hf", "--tokenizer", TOKENIZER],
                       check=True)
        with open(os.path.join(model, "tokenizer_config.json")) as f:
            check(json.load(f)["chat_template"] == CHAT_TEMPLATE,
                  "the tiny -hf repo carries the published chat template")
        with open(os.path.join(model, "chat_template.json")) as f:
            check(json.load(f)["chat_template"] == CHAT_TEMPLATE, "chat_template.json too")
        cases = [
            ("text only", [{"role": "user", "content": "Hello, who are you?"}], [],
             ["Hello, who are you?"]),
            ("a system message",
             [{"role": "system", "content": "Be brief."},
              {"role": "user", "content": [{"type": "text", "text": "Hi"}]}], [],
             ["--system", "Be brief.", "Hi"]),
            ("an empty system message",
             [{"role": "system", "content": ""}, {"role": "user", "content": "Hi"}], [],
             ["--system", "", "Hi"]),
        ]
        for n in (1, 7, 13):
            cases.append((f"one image of {n} tiles",
                          [{"role": "user", "content": [{"type": "image"},
                                                        {"type": "text", "text": QUESTION}]}],
                          [n], ["--tiles", str(n), QUESTION]))
        for what, messages, tiles, args in cases:
            want = render(messages, tiles)
            check(ivl_prompt(model, *args) == want, f"{what}: the text Jinja renders")
            check(ivl_ids(model, *args) == tok.encode(want), f"{what}: the reference's ids")


if __name__ == "__main__":
    main()
