"""What the `ivl serve` tests share: a tiny model, servers on ephemeral loopback ports, and
requests with their exact status and body."""
import http.client
import json
import os
import subprocess
import sys
import tempfile

IVL = os.environ["IVL"]
HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")

SERVERS = []


def check(cond, what):
    if not cond:
        sys.exit("FAIL: " + what)
    print("ok -", what)


def tiny_model():
    tmp = tempfile.mkdtemp(prefix="ivl-serve-")
    model = os.path.join(tmp, "tiny")
    subprocess.run([IVL, "make-tiny-model", "--tokenizer",
                    os.path.join(DATA, "tokenizer", "qwen2.5"), model], check=True,
                   capture_output=True)
    return model


class Server:
    """`ivl serve` on 127.0.0.1, any free port; extra: more options."""

    def __init__(self, model, *extra, env=None):
        self.proc = subprocess.Popen([IVL, "serve", "-m", model, "--backend", "cpu", "--port", "0",
                                      "--max-num", "2", *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=env)
        SERVERS.append(self.proc)
        self.base = self.proc.stdout.readline().strip()  # http://127.0.0.1:PORT/v1
        if not self.base:
            sys.exit("FAIL: the server did not start: " + self.proc.stderr.read())
        host_port = self.base.split("/")[2]
        self.host, self.port = host_port.split(":")[0], int(host_port.split(":")[1])

    def request(self, method, path, body=None, headers=None, timeout=120):
        """(status, headers, text) of one request; body: a dict (sent as JSON) or bytes."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        h = {"Content-Type": "application/json"} if data is not None else {}
        h.update(headers or {})
        conn.request(method, path, data, h)
        r = conn.getresponse()
        text = r.read().decode("utf-8", "replace")
        conn.close()
        return r.status, r.headers, text

    def post(self, body, path="/v1/chat/completions", headers=None):
        status, _, text = self.request("POST", path, body, headers)
        return status, text

    def chat(self, messages, **params):
        status, text = self.post(dict(messages=messages, **params))
        check(status == 200, "200 for a good request (%s)" % text[:200])
        return json.loads(text)

    def stream(self, messages, path="/v1/chat/completions", **params):
        body = dict(stream=True, **params)
        if messages is not None:
            body["messages"] = messages
        status, text = self.post(body, path)
        check(status == 200, "200 for a streamed request (%s)" % text[:200])
        return events_of(text)

    def fds(self):
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def events_of(text):
    return [line[len("data: "):] for line in text.split("\n") if line.startswith("data: ")]


def streamed_text(events, field="content"):
    chunks = [json.loads(e) for e in events[:-1]]
    if field == "text":
        return "".join(c["choices"][0]["text"] for c in chunks if c["choices"]), chunks
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks
                   if c["choices"]), chunks


def error_of(text):
    """The error object, checked to have OpenAI's four members."""
    e = json.loads(text)["error"]
    check(set(e) >= {"message", "type", "param", "code"},
          "the error object has message, type, param and code: " + json.dumps(e)[:200])
    return e


def run_main(main):
    try:
        main()
    finally:  # a failed check must not leave a server holding the test's output open
        for proc in SERVERS:
            if proc.poll() is None:
                proc.kill()
