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
# The line a generation command prints when its model is loaded; not an error line.
LOADED = re.compile(r"^(ivl: .* on the \w+ backend, .* weights|Downloading .* to .*)$")

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
    try:
        p = subprocess.run([IVL, *args], input=stdin, capture_output=True, env=e, cwd=tmp,
                           timeout=TIME_LIMIT, preexec_fn=limit_memory)
    except subprocess.TimeoutExpired:
        return None, b"", b"", TIME_LIMIT
    return p.returncode, p.stdout, p.stderr, time.monotonic() - start


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


def main():
    make_model()
    endpoint = start_hub()
    item1_nesting(endpoint)
    item3_memory(endpoint)
    item4_fifos()
    item5_types(endpoint)
    item6_batch_image()
    print("1..%d" % len(results))
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if any(why for _, why in results) else 0


if __name__ == "__main__":
    sys.exit(main())
