#!/usr/bin/python3
"""Hostile and broken input against the built `ivl` (issue 11): each case runs the binary on
one exact bad input and checks the exit status, the one error line it must print (or the right
result), that GLib logged no CRITICAL (G_DEBUG=fatal-criticals aborts on one), that it ends
within 10 s and stays under a memory cap. Prints TAP.

IVL_HOSTILE_SANITIZED=1 (the ASan + UBSan build) swaps the address-space cap, which ASan's
shadow memory cannot live under, for ASan's own RSS limit."""
import http.server
import os
import re
import resource
import shutil
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

IVL = os.environ["IVL"]
ROOT = os.environ["IVL_SOURCE_ROOT"]
SANITIZED = os.environ.get("IVL_HOSTILE_SANITIZED") == "1"
MEMORY_CAP = 2 << 30  # bytes of address space (or RSS under ASan)
TIME_LIMIT = 10.0
# Lines that say what a command does, not errors: the model loaded, the CPU taking over from
# a missing CUDA device (a CUDA build without a GPU), a download starting.
LOADED = re.compile(r"^(ivl: .* on the \w+ backend, .* weights|Downloading .* to .*|"
                    r"\*\* Message: .*CUDA backend unavailable.*; using the CPU)$")

tmp = tempfile.mkdtemp(prefix="ivl-hostile-")
results = []


def path(*parts):
    return os.path.join(tmp, *parts)


def write(name, data):
    p = path(name)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    return p


def limit_memory():
    if not SANITIZED:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def run(args, stdin=None, env=None):
    e = dict(os.environ, G_DEBUG="fatal-criticals", LC_ALL="C.UTF-8", LANGUAGE="")
    e["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1:hard_rss_limit_mb=%d" % (MEMORY_CAP >> 20)
    e["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    e.update(env or {})
    start = time.monotonic()
    stdout = e.pop("IVL_HOSTILE_STDOUT", None)
    out = open(stdout, "wb") if stdout else subprocess.PIPE
    try:
        p = subprocess.run([IVL, *args], input=stdin, stdout=out, stderr=subprocess.PIPE, env=e,
                           cwd=tmp, timeout=TIME_LIMIT, preexec_fn=limit_memory)
    except subprocess.TimeoutExpired:
        return None, b"", b"", TIME_LIMIT
    finally:
        if stdout:
            out.close()
    return p.returncode, p.stdout or b"", p.stderr, time.monotonic() - start


def case(name, args, status, error=None, out=None, stdin=None, env=None, lines=1):
    """error: a regex the stderr's error lines must match, exactly `lines` of them; out: a
    regex stdout must match (or a function of stdout returning a failure text)."""
    rc, so, se, secs = run(args, stdin, env)
    text = se.decode(errors="replace")
    errs = [l for l in text.splitlines() if not LOADED.match(l)]
    why = None
    if rc is None:
        why = "did not end within %.0f s" % TIME_LIMIT
    elif rc < 0 or rc > 2:
        why = "exit status %d (a signal or an abort)" % rc
    elif rc != status:
        why = "exit status %d, expected %d" % (rc, status)
    elif "CRITICAL" in text or "runtime error" in text or "Sanitizer" in text:
        why = "GLib or a sanitizer complained"
    elif error is not None and (len(errs) != lines or
                                not all(re.search(error, l) for l in errs)):
        why = "stderr does not match /%s/ in %d line(s)" % (error, lines)
    elif error is None and status == 0 and errs:
        why = "unexpected stderr"
    elif callable(out):
        why = out(so)
    elif out is not None and not re.search(out, so.decode(errors="replace")):
        why = "stdout does not match /%s/" % out
    results.append((name, why))
    print(("ok %d - %s (%.1f s)" if not why else "not ok %d - %s") % (len(results), name, secs)
          if not why else "not ok %d - %s: %s" % (len(results), name, why))
    if why:
        for l in text.splitlines()[-8:]:
            print("#   stderr: " + l)
        for l in so.decode(errors="replace").splitlines()[:4]:
            print("#   stdout: " + l[:200])
    sys.stdout.flush()


def model_copy(name):
    """A fresh copy of the tiny model to break."""
    dst = path(name)
    shutil.copytree(path("model"), dst)
    return dst


def nested(n, opener="["):
    return opener * n


# ---- the fixtures --------------------------------------------------------------------------

def make_model():
    r = subprocess.run([os.path.join(ROOT, "tests", "make-tiny-model"), path("model"),
                        "--seed=11"], env=dict(os.environ, IVL=IVL), capture_output=True)
    if r.returncode != 0:
        sys.exit("Bail out! make-tiny-model: " + r.stderr.decode())


class Hub(http.server.BaseHTTPRequestHandler):
    """A Hub whose answers the test sets: path prefix -> (status, headers, body or a
    generator of chunks)."""
    routes = {}

    def do_GET(self):
        for prefix, (status, headers, body) in Hub.routes.items():
            if self.path.startswith(prefix):
                break
        else:
            status, headers, body = 404, {}, b"{}"
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        if callable(body):
            self.end_headers()
            try:
                for chunk in body():
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def start_hub():
    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
    server = Server(("127.0.0.1", 0), Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return "http://127.0.0.1:%d" % server.server_address[1]


SHA = '{"sha": "' + "a" * 40 + '"}'


def hub_env(endpoint):
    return {"HF_ENDPOINT": endpoint, "HF_HOME": path("hf"), "XDG_DATA_HOME": path("data"),
            "HF_TOKEN": ""}


def endless():
    yield b"["
    while True:
        yield b'{"type": "directory", "path": "d"},' * 1000


# ---- the cases, by the items --------------------------------------------------------

def item1_nesting(endpoint):
    deep = nested(200000)
    for name in ("tokenizer_config.json", "vocab.json", "added_tokens.json"):
        m = model_copy("deep-" + name)
        write(os.path.join(m, name), deep)
        case("1: %s of 200,000 nested arrays" % name, ["tokenize", "-m", m, "hi"], 1,
             r"%s: JSON nests deeper than 16 levels" % re.escape(name))
    jl = write("deep.jsonl", nested(80000) + "\n")
    case("1: batch line of 80,000 [", ["batch", "-m", path("model"), "--jsonl", jl,
                                       "--max-new-tokens", "1"], 1,
         r"deep.jsonl:1: JSON nests deeper than 16 levels|some lines failed", lines=2)
    Hub.routes = {"/api/models/x/deep/revision": (200, {}, SHA.encode()),
                  "/api/models/x/deep/tree": (200, {}, nested(200000).encode())}
    case("1: Hub listing of nested arrays", ["download", "x/deep"], 1,
         r"JSON nests deeper than 16 levels", env=hub_env(endpoint))


def item3_memory(endpoint):
    m = model_copy("big-id")
    write(os.path.join(m, "vocab.json"), '{"!": 0, "x": 1073741822}')
    case("3: vocab.json id 1073741822", ["tokenize", "-m", m, "hi"], 1,
         r"vocab.json: id 1073741822 but only 2 tokens")
    Hub.routes = {"/api/models/x/endless/revision": (200, {}, SHA.encode()),
                  "/api/models/x/endless/tree": (200, {}, endless)}
    case("3: endless Hub listing", ["download", "x/endless"], 1,
         r"more than \d+ bytes of JSON", env=hub_env(endpoint))


def item4_fifos():
    for name in ("vocab.json", "model.safetensors"):
        m = model_copy("fifo-" + name)
        os.unlink(os.path.join(m, name))
        os.mkfifo(os.path.join(m, name))
        case("4: %s is a FIFO" % name, ["tokenize" if name == "vocab.json" else "info", "-m", m, "hi"][:4 if name == "vocab.json" else 3], 1,
             r"%s: is a FIFO, not a regular file" % re.escape(name))


def item5_types(endpoint):
    m = model_copy("decoder-5")
    write(os.path.join(m, "tokenizer_config.json"), '{"added_tokens_decoder": 5}')
    case("5: added_tokens_decoder: 5", ["tokenize", "-m", m, "hi"], 1,
         r'"added_tokens_decoder" must be an object')
    jl = write("question-obj.jsonl", '{"question": {}}\n')
    case('5: batch "question": {}', ["batch", "-m", path("model"), "--jsonl", jl], 1,
         r'"question" must be a string|some lines failed', lines=2)
    Hub.routes = {"/api/models/x/type/revision": (200, {}, SHA.encode()),
                  "/api/models/x/type/tree": (200, {}, b'[{"type": {}, "path": "a"}]')}
    case('5: listing "type": {}', ["download", "x/type"], 1, r'"type" must be a string',
         env=hub_env(endpoint))


def item6_batch_image():
    jl = write("image-123.jsonl", '{"question": "hi", "image": 123}\n'
               '{"question": "hi", "image": ["a.png"]}\n')
    case('6: batch "image": 123 and an array', ["batch", "-m", path("model"), "--jsonl", jl], 1,
         r'"image" must be a string|some lines failed', lines=3)


def item2_outputs():
    target = write("target.bin", "keep")
    link = path("link.bin")
    os.symlink(target, link)
    case("2: --logits-out through a symlink writes its target", ["run", "-m", path("model"),
         "--max-new-tokens", "1", "--logits-out", link, "hi"], 0,
         out=lambda so: None if os.path.islink(link) and os.path.getsize(target) > 4
         else "the symlink was replaced")
    fifo = path("out.fifo")
    os.mkfifo(fifo)
    case("2: --logits-out to a FIFO without a reader", ["run", "-m", path("model"),
         "--max-new-tokens", "1", "--logits-out", fifo, "hi"], 1, r"out.fifo: a FIFO with no reader")
    case("2: --logits-out to /dev/full", ["run", "-m", path("model"), "--max-new-tokens", "1",
         "--logits-out", "/dev/full", "hi"], 1, r"/dev/full: cannot write: No space left",
         out=lambda so: None if os.path.exists("/dev/full") and
         not os.path.isfile("/dev/full") else "/dev/full was replaced")
    img = os.path.join(ROOT, "data", "demo", "red-panda.jpg")
    case("2: preprocess --out to /dev/full", ["preprocess", img, "--out", "/dev/full"], 1,
         r"/dev/full: cannot write: No space left")


def item3_counts():
    case("3: bench --tiles 100000", ["bench", "-m", path("model"), "--tiles", "100000"], 2,
         r"--tiles between 1 and 256")
    case("3: make-tiny-model --llm-hidden 1048576", ["make-tiny-model", path("huge"),
         "--llm-hidden", "1048576", "--no-tokenizer"][:4], 1, r"GiB of weights need twice that")
    case("3: serve --parallel 100000", ["serve", "-m", path("model"), "--parallel", "100000"], 2,
         r"--parallel must be between 1 and 256")
    case("3: bench --parallel 0,100000", ["bench", "-m", path("model"), "--parallel", "0,100000"],
         2, r"--parallel takes up to 16 stream counts between 1 and 256")
    case("3: info --devices 99999999x99999999GiB", ["info", "-m", path("model"), "--devices",
         "99999999x99999999GiB"], 2, r"--devices takes sizes like 8x80GiB")
    case("3: --gpus 99999999999999", ["run", "-m", path("model"), "--gpus", "99999999999999",
         "hi"], 1, r"--gpus takes up to 16 device numbers")
    case("3: --threads 100000", ["run", "-m", path("model"), "--threads", "100000", "hi"], 1,
         r"--threads must be between 1 and 1024")


def item4_more_fifos():
    fifo = path("in.fifo")
    os.mkfifo(fifo)
    case("4: an image that is a FIFO", ["run", "-m", path("model"), "--image", fifo, "hi"], 1,
         r"in.fifo: is a FIFO, not a regular file")
    case("4: a question file that is a FIFO", ["tokenize", "-m", path("model"), "--file", fifo],
         1, r"in.fifo: is a FIFO, not a regular file")
    case("4: a JSONL file that is a FIFO", ["batch", "-m", path("model"), "--jsonl", fifo], 1,
         r"in.fifo: is a FIFO, not a regular file")
    m = model_copy("fifo-config")
    os.unlink(os.path.join(m, "config.json"))
    os.mkfifo(os.path.join(m, "config.json"))
    case("4: config.json is a FIFO", ["info", "-m", m], 1,
         r"config.json: is a FIFO, not a regular file")


def item6_results():
    case("6: a 20,000-byte chat line is one question", ["chat", "-m", path("model"),
         "--max-new-tokens", "2"], 0, stdin=b"a" * 20000 + b"\n/quit\n",
         out=lambda so: None if so.count(b"\n") == 1 else "%d answers" % so.count(b"\n"))
    bmp = path("red.bmp")
    subprocess.run(["/usr/bin/python3", "-c", "from PIL import Image; "
                    "Image.new('RGB', (64, 64), (200, 10, 10)).save(%r)" % bmp], check=True)
    with open(bmp, "rb") as f:
        data = f.read()
    write("trunc.bmp", data[:len(data) // 3])
    case("6: a truncated BMP", ["preprocess", path("trunc.bmp")], 1,
         r"trunc.bmp: the BMP file is truncated")
    video = os.path.join(ROOT, "tests", "data", "engine", "video_0.mov")
    for end in ("inf", "1e300"):
        case("6: frames --end " + end, ["frames", video, "--start", "0", "--end", end], 0,
             out=r'"indices":\[0,')
    case("6: frames --start 1e300 --end inf (no 300-digit number)",
         ["frames", video, "--start", "1e300", "--end", "inf"], 1,
         r"The clip from 1e\+300 s to inf s holds no frame")
    m = model_copy("nan")
    poison_weights(os.path.join(m, "model.safetensors"),
                   "language_model.model.layers.1.mlp.down_proj.weight")
    case("6: NaN weights", ["run", "-m", m, "--max-new-tokens", "3", "hi"], 1,
         r"computes NaN or Inf, first in language layer 1")
    case("6: a literal <image> without an image", ["run", "-m", path("model"),
         "--max-new-tokens", "2", "what is <image>?"], 0)
    m = model_copy("nul-merges")
    with open(os.path.join(m, "merges.txt"), "ab") as f:
        f.write(b"a\0b\n")
    case("6: a NUL byte in merges.txt", ["tokenize", "-m", m, "hi"], 1,
         r"merges.txt: a NUL byte at offset")
    for cmd in (["run", "-m", path("model"), "--max-new-tokens", "2", "hi"],
                ["tokenize", "-m", path("model"), "hi"]):
        case("6: %s into /dev/full" % cmd[0], cmd, 1, r"cannot write the output: No space left",
             env={"IVL_HOSTILE_STDOUT": "/dev/full"})
    jl = write("one.jsonl", '{"question": "hi"}\n')
    case("6: batch into /dev/full", ["batch", "-m", path("model"), "--max-new-tokens", "2",
         "--jsonl", jl], 1, r"cannot write the answers: No space left",
         env={"IVL_HOSTILE_STDOUT": "/dev/full"})
    for opt, value in (("--temperature", "nan"), ("--temperature", "-1"), ("--top-p", "nan"),
                       ("--top-p", "-0.5")):
        case("6: %s %s" % (opt, value), ["run", "-m", path("model"), opt, value, "hi"], 1,
             r"generation options out of range")
    for opt, value, msg in (("--threads", "0", "--threads must be"),
                            ("--threads", "-3", "--threads must be"),
                            ("--context", "0", "--context must be a positive"),
                            ("--context", "-1", "--context must be a positive")):
        case("6: %s %s" % (opt, value), ["run", "-m", path("model"), opt, value, "hi"], 1, msg)
    case("6: an answer cut at the context", ["run", "-m", path("model"), "--context", "50",
         "--max-new-tokens", "30", "hello"], 0, error=r"the answer was cut short")
    case("6: tokenize --decode [99999999]", ["tokenize", "-m", path("model"), "--decode",
         "[99999999]"], 1, r"99999999 is not a token id of this tokenizer")


def item7_batch_goes_on():
    jl = write("mixed.jsonl", '{"question": "hi"}\nnot json\n{"question": "again"}\n')
    case("7: batch reports a bad line and goes on", ["batch", "-m", path("model"),
         "--max-new-tokens", "2", "--jsonl", jl], 1,
         r"mixed.jsonl:2: not valid JSON|some lines failed", lines=2,
         out=lambda so: None if so.count(b'"answer"') == 2 and so.count(b'"error"') == 1
         else "answers: %r" % so[:300])


def item8_download(endpoint):
    for name in ("x/..", "", "a/b/c", "?", "#"):
        case("8: download %r" % name, ["download", name], 2,
             r"is not a Hub repository name", env=hub_env(endpoint))
    Hub.routes = {"/api/models/x/wait/revision": (429, {"Retry-After": "99999999999"}, b"{}")}
    case("8: a huge Retry-After", ["download", "x/wait"], 1,
         r"asks to wait 86400 s before trying again", env=hub_env(endpoint))


def item9_messages():
    for name, kind in (("dev-zero", "a device"), ("folder", "a folder")):
        m = model_copy("weights-" + name)
        w = os.path.join(m, "model.safetensors")
        os.unlink(w)
        if name == "folder":
            os.mkdir(w)
        else:
            os.symlink("/dev/zero", w)
        case("9: weights that are %s" % kind, ["info", "-m", m], 1,
             r"model.safetensors: is %s, not a regular file" % kind)
    video = os.path.join(ROOT, "tests", "data", "engine", "video_0.mov")
    case("9: frames --start -5 --end 3", ["frames", video, "--start", "-5", "--end", "3"], 0,
         out=r'"indices":\[0,')
    case("9: bench --tiles 2147483647", ["bench", "-m", path("model"), "--tiles", "2147483647"],
         2, r"--tiles between 1 and 256")
    case("9: --segments 256 refused before decoding", ["run", "-m", path("model"), "--video",
         video, "--segments", "256", "--context", "1000", "hi"], 1,
         r"256 frames of 256 tokens each do not fit the context of 1000 tokens")
    case("9: an unknown flag gives one line", ["run", "--bogus", "hi"], 2, r"Unknown option")


def poison_weights(path_, name):
    """Sets every bf16 value of tensor `name` to NaN."""
    import json
    import struct
    with open(path_, "r+b") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        t = json.loads(f.read(n))[name]
        start, end = t["data_offsets"]
        f.seek(8 + n + start)
        f.write(b"\xc0\x7f" * ((end - start) // 2))


def main():
    make_model()
    endpoint = start_hub()
    item1_nesting(endpoint)
    item3_memory(endpoint)
    item4_fifos()
    item5_types(endpoint)
    item6_batch_image()
    item2_outputs()
    item3_counts()
    item4_more_fifos()
    item6_results()
    item7_batch_goes_on()
    item8_download(endpoint)
    item9_messages()
    print("1..%d" % len(results))
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if any(why for _, why in results) else 0


if __name__ == "__main__":
    sys.exit(main())
