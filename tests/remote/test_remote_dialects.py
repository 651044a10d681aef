"""`ivl run/chat/batch --server` against stand-ins for vLLM, LMDeploy and llama-server
(dialect_server.py): the request each is sent, the answer printed as a local model's is, and
every fault giving the error that says what happened, with the text received so far kept."""
import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

IVL = os.environ["IVL"]
HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")
IMAGE = os.path.join(DATA, "media", "gray-333x222.png")
VIDEO = os.path.join(DATA, "engine", "video_0.mov")
KEY = "sk-test-123"
ANSWER = "The picture shows a red panda."
MODELS = {"vllm": "OpenGVLab/InternVL3-78B", "lmdeploy": "InternVL3-78B",
          "llama-server": "InternVL3-8B-Instruct-Q8_0.gguf"}
SERVERS = []


def check(cond, what):
    if not cond:
        sys.exit("FAIL: " + what)
    print("ok -", what)


class Server:
    def __init__(self, dialect):
        self.dialect = dialect
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "dialect_server.py"),
                                      dialect, "--api-key", KEY],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        SERVERS.append(self.proc)
        self.url = self.proc.stdout.readline().strip()

    def last(self):
        with urllib.request.urlopen(self.url + "/last-request") as r:
            return json.load(r)


def ivl(server, *args, key=KEY, stdin=None, cmd="run"):
    argv = [IVL, cmd, "--server", server.url, "--stall-timeout", "2"]
    if key:
        argv += ["--api-key", key]
    t = time.monotonic()
    p = subprocess.run(argv + list(args), capture_output=True, text=True, input=stdin,
                       timeout=60)
    return p.returncode, p.stdout, p.stderr, time.monotonic() - t


def parts_of(body):
    return body["messages"][-1]["content"]


def check_request(s):
    d = s.dialect
    rc, out, err, _ = ivl(s, "--max-new-tokens", "64", "Describe it.")
    check(rc == 0 and out == ANSWER + "\n", "%s: the streamed answer is printed (%r)" % (d, out + err))
    check("(%s)" % d in err, "%s: the dialect is found from /v1/models and Server (%s)" % (d, err.strip()))
    body = s.last()
    check(body["stream"] is True and body["stream_options"] == {"include_usage": True},
          "%s: streamed with usage asked for" % d)
    check(body["max_tokens"] == 64 and body["temperature"] == 0,
          "%s: max_tokens and temperature 0 (greedy) are sent" % d)
    check(("max_completion_tokens" in body) == (d != "llama-server"),
          "%s: max_completion_tokens only where the server reads it" % d)
    check(body["messages"] == [{"role": "user", "content": "Describe it."}],
          "%s: a text question is a plain string" % d)

    rc, out, err, _ = ivl(s, "--temperature", "0.7", "--repetition-penalty", "1.1", "Hi")
    body = s.last()
    name = "repeat_penalty" if d == "llama-server" else "repetition_penalty"
    check(rc == 0 and abs(body[name] - 1.1) < 1e-6 and abs(body["temperature"] - 0.7) < 1e-6,
          "%s: sampling options, the penalty named %s" % (d, name))

    rc, out, err, _ = ivl(s, "--json", "Hi")
    j = json.loads(out)
    check(rc == 0 and j["text"] == ANSWER and j["usage"] == {"prompt_tokens": 11,
                                                           "completion_tokens": 7}
          and j["finish_reason"] == "stop", "%s: --json has the text and the usage chunk's counts" % d)

    rc, out, err, _ = ivl(s, "--image", IMAGE, "What is it?")
    p = parts_of(s.last())
    with open(IMAGE, "rb") as f:
        original = "data:image/png;base64," + base64.b64encode(f.read()).decode()
    check(rc == 0 and p[0]["type"] == "image_url" and p[0]["image_url"]["url"] == original
          and p[-1] == {"type": "text", "text": "What is it?"},
          "%s: an image goes as the file's own bytes, before the question" % d)

    rc, out, err, _ = ivl(s, "--video", VIDEO, "--segments", "4", "What happens?")
    p = parts_of(s.last())
    check(rc == 0, "%s: a video is answered (%s)" % (d, err.strip()))
    if d == "vllm":
        url = p[0]["video_url"]["url"]
        frames = url[len("data:video/jpeg;base64,"):].split(",")
        check(url.startswith("data:video/jpeg;base64,") and len(frames) == 4
              and all(base64.b64decode(f)[:2] == b"\xff\xd8" for f in frames)
              and len(p) == 2, "vllm: a video is one video_url of 4 JPEG frames")
    else:
        texts = [x["text"] for x in p if x["type"] == "text"]
        images = [x["image_url"] for x in p if x["type"] == "image_url"]
        check(texts == ["Frame1: ", "Frame2: ", "Frame3: ", "Frame4: ", "What happens?"]
              and len(images) == 4 and [x["type"] for x in p[:2]] == ["text", "image_url"]
              and all(i["url"].startswith("data:image/png;base64,") for i in images),
              "%s: a video is 4 PNG frames, each after its FrameN: text" % d)
        check(all(("max_dynamic_patch" in i) == (d == "lmdeploy") for i in images),
              "%s: one tile per frame asked for where the server tiles frames" % d)

    rc, out, err, _ = ivl(s, "--max-new-tokens", "8", cmd="chat",
                          stdin="First?\nSecond?\n")
    m = s.last()["messages"]
    check(rc == 0 and out == ANSWER + "\n" + ANSWER + "\n" and
          [x["role"] for x in m] == ["user", "assistant", "user"] and m[1]["content"] == ANSWER,
          "%s: ivl chat sends the history with each question" % d)

    jsonl = os.path.join(os.environ.get("TMPDIR", "/tmp"), "remote-%d.jsonl" % os.getpid())
    with open(jsonl, "w") as f:
        f.write(json.dumps({"image": IMAGE, "question": "What?"}) + "\n")
    rc, out, err, _ = ivl(s, "--jsonl", jsonl, cmd="batch")
    os.unlink(jsonl)
    check(rc == 0 and json.loads(out)["answer"] == ANSWER, "%s: ivl batch answers a line" % d)


def check_faults(s):
    d = s.dialect
    rc, out, err, _ = ivl(s, "Hi", key="wrong")
    check(rc == 1 and "refused the API key (HTTP 401" in err,
          "%s: a wrong key: %s" % (d, err.strip().splitlines()[-1]))
    rc, out, err, _ = ivl(s, "Hi", key=None)
    check(rc == 1 and "refused the API key" in err, "%s: no key" % d)
    if d != "llama-server":  # llama-server answers whatever model is named
        rc, out, err, _ = ivl(s, "-m", "InternVL3-1B", "Hi")
        check(rc == 1 and "has no model 'InternVL3-1B' (HTTP 404" in err,
              "%s: a model not served: %s" % (d, err.strip().splitlines()[-1]))
    cases = [
        ("FAULT context", "too long for the model", ""),
        ("FAULT 500", "failed (HTTP 500: Only one completion choice is allowed)", ""),
        ("FAULT 429", "is busy or not ready (HTTP 429: queue full)", ""),
        ("FAULT no-done", "ended before the server said it was done", "The picture shows \n"),
        ("FAULT reset", "broke in the middle of the answer", "The picture shows \n"),
        ("FAULT hang", "sent nothing for 2 s", "The picture shows \n"),
        ("FAULT stream-error", "failed (HTTP 500: CUDA out of memory)", "The picture shows \n"),
    ]
    if d == "llama-server":
        cases.append(("FAULT stream-error-new", "failed (HTTP 500: CUDA out of memory)",
                      "The picture shows \n"))
    for question, message, kept in cases:
        rc, out, err, took = ivl(s, question)
        check(rc == 1 and message in err and out == kept,
              "%s: %s: %r, %r kept" % (d, question, err.strip().splitlines()[-1], out))
        if question == "FAULT hang":
            check(took < 15, "%s: the stall timeout fired (%.1f s)" % (d, took))
    rc, out, err, took = ivl(s, "FAULT 429-once")
    check(rc == 0 and out == ANSWER + "\n" and took >= 1,
          "%s: a 429 is retried after its Retry-After (%.1f s)" % (d, took))
    rc, out, err, took = ivl(s, "FAULT 503-once")
    check(rc == 0 and out == ANSWER + "\n",
          "%s: a 503 before the first byte is retried (%.1f s)" % (d, took))
    p = subprocess.run([IVL, "models", "--server", s.url, "--api-key", KEY],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 0 and MODELS[d] in p.stdout and "(%s)" % d in p.stdout,
          "%s: ivl models --server lists the served model: %r" % (d, p.stdout + p.stderr))
    p = subprocess.run([IVL, "models", "--server", s.url, "--api-key", KEY, "--json"],
                       capture_output=True, text=True, timeout=60)
    listed = json.loads(p.stdout) if p.returncode == 0 else {}
    check(listed.get("dialect") == d and [m["id"] for m in listed["models"]] == [MODELS[d]],
          "%s: ivl models --server --json" % d)
    rc, out, err, _ = ivl(s, "FAULT whole")
    check(rc == 0 and out == ANSWER + "\n", "%s: a whole (non-streamed) answer is printed" % d)


def main():
    for dialect in ["vllm", "lmdeploy", "llama-server"]:
        s = Server(dialect)
        check_request(s)
        check_faults(s)
    # --dialect wins over what the server says.
    s = Server("vllm")
    rc, out, err, _ = ivl(s, "--dialect", "llama-server", "Hi")
    body = s.last()
    check(rc == 0 and "max_completion_tokens" not in body and "(llama-server)" in err,
          "--dialect sets the dialect")
    # A port no one listens on: refused, retried, then said.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    p = subprocess.run([IVL, "run", "--server", "http://127.0.0.1:%d" % port, "Hi"],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 1 and "cannot reach the server at 127.0.0.1:%d" % port in p.stderr,
          "connection refused: " + p.stderr.strip())
    # A server that takes the connection and never answers: given up after the stall timeout
    # (the connection itself opened at once), not waited on forever.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    t = time.monotonic()
    p = subprocess.run([IVL, "run", "--server", "http://127.0.0.1:%d" % port,
                        "--stall-timeout", "1", "Hi"], capture_output=True, text=True, timeout=60)
    took = time.monotonic() - t
    sock.close()
    check(p.returncode == 1 and "127.0.0.1:%d" % port in p.stderr and took < 20,
          "a server that never answers: %s (%.1f s)" % (p.stderr.strip(), took))
    p = subprocess.run([IVL, "run", "--server", "ftp://x", "Hi"], capture_output=True, text=True)
    check(p.returncode == 1 and "is not a server address" in p.stderr, "a URL that is not http")
    p = subprocess.run([IVL, "run", "--server", "http://127.0.0.1:1", "--backend", "cpu", "Hi"],
                       capture_output=True, text=True)
    check(p.returncode == 1 and "--backend is for a model loaded here" in p.stderr,
          "local-only options are refused with --server")


if __name__ == "__main__":
    try:
        main()
    finally:
        for proc in SERVERS:
            proc.kill()
