"""End to end: `ivl run/chat/batch --server` against `ivl serve` on a loopback port with a tiny
model give the answers the same commands give with the model loaded here (greedy decoding):
text, an image, a video sent as the clip and as its frames, a conversation, a batch; and the
server's API key."""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "net"))
from serve_common import IVL, DATA, Server, check, run_main, tiny_model  # noqa: E402

IMAGE = os.path.join(DATA, "media", "gray-333x222.png")
VIDEO = os.path.join(DATA, "engine", "video_0.mov")
KEY = "sk-e2e"


def ivl(*args, stdin=None):
    p = subprocess.run([IVL, *args], capture_output=True, text=True, input=stdin, timeout=300)
    return p.returncode, p.stdout, p.stderr


def answer(where, *args):
    rc, out, err = ivl("run", *where, "--json", "--max-new-tokens", "8", *args)
    check(rc == 0, "ivl run %s answers (%s)" % (" ".join(where[:1]), err.strip()[-200:]))
    return json.loads(out.splitlines()[-1])["text"]


def main():
    model = tiny_model()
    server = Server(model, "--api-key", KEY)
    local = ["-m", model, "--backend", "cpu", "--max-num", "2"]
    remote = ["--server", server.base, "--api-key", KEY]
    cases = [
        ("a text question", ["Hello there"]),
        ("an image", ["--image", IMAGE, "What is it?"]),
        ("a video sent as the clip (8 frames: the server samples the same)",
         ["--video", VIDEO, "What happens?"]),
        ("a video sent as its frames (4 frames, not the server's 8)",
         ["--video", VIDEO, "--segments", "4", "What happens?"]),
        ("a system message", ["--system", "Answer in French.", "Hello"]),
    ]
    for what, args in cases:
        here, there = answer(local, *args), answer(remote, *args)
        check(here == there and here, "%s: the server's answer is the local one (%r)" % (what, there))

    # A conversation: the history goes with each question, the answers agree turn by turn.
    talk = "Hello\n/image %s\nWhat is it?\nAnd the colour?\n" % IMAGE
    rc1, out1, err1 = ivl("chat", *local, "--max-new-tokens", "6", stdin=talk)
    rc2, out2, err2 = ivl("chat", *remote, "--max-new-tokens", "6", stdin=talk)
    # Local pieces keep the whitespace chat() strips from the ends; the server never sends it.
    lines1 = [l.strip() for l in out1.splitlines()]
    lines2 = [l.strip() for l in out2.splitlines()]
    check(rc1 == rc2 == 0 and lines1 == lines2 and len(lines2) == 3,
          "ivl chat: three turns answered alike (%r)" % lines2)

    jsonl = os.path.join(os.path.dirname(model), "q.jsonl")
    with open(jsonl, "w") as f:
        f.write(json.dumps({"image": IMAGE, "question": "What?"}) + "\n")
        f.write(json.dumps({"question": "Hi"}) + "\n")
    rc1, out1, _ = ivl("batch", "-m", model, "--backend", "cpu", "--max-num", "2", "--jsonl",
                       jsonl, "--max-new-tokens", "6")
    rc2, out2, _ = ivl("batch", *remote, "--jsonl", jsonl, "--max-new-tokens", "6")
    check(rc1 == rc2 == 0 and out1 == out2, "ivl batch: the same answer lines")

    rc, out, err = ivl("run", "--server", server.base, "--api-key", "wrong", "Hi")
    check(rc == 1 and "refused the API key (HTTP 401" in err, "a wrong key: " + err.strip())
    rc, out, err = ivl("run", *remote, "-m", "other", "Hi")
    check(rc == 1 and "has no model 'other' (HTTP 404" in err, "a model not served: " + err.strip())
    rc, out, err = ivl("run", *remote, "--max-new-tokens", "4", "Hi")
    check(rc == 0 and "(ivl)" in err, "the dialect is found: ivl serve")
    server.stop()


if __name__ == "__main__":
    run_main(main)
