#!/usr/bin/python3
"""`ivl serve` as an OpenAI client sees it, over loopback: the answers equal `ivl run`'s
(text, an image, two images, a video clip, streamed or whole), a follow-up that continues the conversation equals the
same request answered from scratch, bad requests get 400 with a reason, a client that hangs
up mid-stream does not hold the server, and SIGTERM ends it cleanly."""
import base64
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

IVL = os.environ["IVL"]
HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")
IMAGE = os.path.join(HERE, "..", "..", "data", "demo", "red-panda.jpg")
VIDEO = os.path.join(DATA, "engine", "video_0.mov")


def check(cond, what):
    if not cond:
        sys.exit("FAIL: " + what)
    print("ok -", what)


SERVERS = []


class Server:
    def __init__(self, model):
        self.proc = subprocess.Popen([IVL, "serve", "-m", model, "--backend", "cpu", "--port", "0",
                                      "--max-num", "2"],
                                     stdout=subprocess.PIPE, text=True)
        SERVERS.append(self.proc)
        self.base = self.proc.stdout.readline().strip()  # http://127.0.0.1:PORT/v1
        host_port = self.base.split("/")[2]
        self.host, self.port = host_port.split(":")[0], int(host_port.split(":")[1])

    def post(self, body, raw=None):
        data = raw if raw is not None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + "/chat/completions", data=data,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def chat(self, messages, **params):
        status, text = self.post(dict(messages=messages, **params))
        check(status == 200, "200 for a good request (%s)" % text[:200])
        return json.loads(text)

    def stream(self, messages, **params):
        status, text = self.post(dict(messages=messages, stream=True, **params))
        check(status == 200, "200 for a streamed request")
        events = [line[len("data: "):] for line in text.split("\n") if line.startswith("data: ")]
        return events


def ivl_run(model, *args):
    out = subprocess.run([IVL, "run", "-m", model, "--backend", "cpu", "--json", *args],
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        sys.exit("ivl run failed: " + out.stderr)
    return json.loads(out.stdout)["text"]


def image_url():
    with open(IMAGE, "rb") as f:
        return "data:image/jpeg;base64," + base64.b64encode(f.read()).decode()


def main():
    tmp = tempfile.mkdtemp(prefix="ivl-serve-")
    model = os.path.join(tmp, "tiny")
    subprocess.run([IVL, "make-tiny-model", "--tokenizer",
                    os.path.join(DATA, "tokenizer", "qwen2.5"), model], check=True,
                   capture_output=True)
    server = Server(model)
    check(server.base.startswith("http://127.0.0.1:"), "the address on stdout: " + server.base)

    listing = json.load(urllib.request.urlopen(server.base + "/models"))
    check(listing["data"][0]["id"] == "tiny", "/v1/models lists the model")
    fds = len(os.listdir("/proc/%d/fd" % server.proc.pid))

    q = "Hello! Who are you?"
    whole = server.chat([{"role": "user", "content": q}], max_tokens=12)
    choice = whole["choices"][0]
    check(choice["message"]["content"] == ivl_run(model, "--max-new-tokens", "12", q),
          "a text answer equals ivl run's")
    check(choice["finish_reason"] == "length" and whole["usage"]["completion_tokens"] == 12,
          "finish_reason length and usage at max_tokens")
    check(whole["object"] == "chat.completion" and whole["model"] == "tiny", "the body's fields")

    events = server.stream([{"role": "user", "content": q}], max_tokens=12,
                           stream_options={"include_usage": True})
    check(events[-1] == "[DONE]", "the stream ends with [DONE]")
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    check(chunks[0]["choices"][0]["delta"].get("role") == "assistant", "the first delta names the role")
    # the streamed pieces are the raw decode; the whole answer is stripped, as chat() does
    check(text.strip() == choice["message"]["content"], "the streamed pieces make the same answer")
    check(chunks[-1]["usage"]["completion_tokens"] == 12, "include_usage adds a usage chunk")

    content = [{"type": "image_url", "image_url": {"url": image_url()}},
               {"type": "text", "text": "Describe the image."}]
    with_image = server.chat([{"role": "user", "content": content}], max_tokens=8)
    check(with_image["choices"][0]["message"]["content"] ==
          ivl_run(model, "--max-new-tokens", "8", "--max-num", "2", "--image", IMAGE,
                  "Describe the image."),
          "an answer about a data: URL image equals ivl run --image's")

    two = [{"type": "text", "text": "Compare them."},
           {"type": "image_url", "image_url": {"url": image_url()}},
           {"type": "image_url", "image_url": image_url()}]  # the bare-string form, too
    check(server.chat([{"role": "user", "content": two}], max_tokens=6)
          ["choices"][0]["message"]["content"] ==
          ivl_run(model, "--max-new-tokens", "6", "--max-num", "2", "--image", IMAGE, "--image",
                  IMAGE, "--separate", "Compare them."),
          "two images are separate images, as ivl run --separate")

    with open(VIDEO, "rb") as f:
        video = "data:video/quicktime;base64," + base64.b64encode(f.read()).decode()
    clip = [{"type": "video_url", "video_url": {"url": video}},
            {"type": "text", "text": "What happens?"}]
    check(server.chat([{"role": "user", "content": clip}], max_tokens=6)
          ["choices"][0]["message"]["content"] ==
          ivl_run(model, "--max-new-tokens", "6", "--video", VIDEO, "--segments", "8",
                  "What happens?"),
          "a video_url clip (8 frames) equals ivl run --video's answer")

    # A follow-up continues the session just used (its KV cache); the same request again after
    # an unrelated one is answered from scratch: both must give the same answer.
    a1 = with_image["choices"][0]["message"]["content"]
    follow = [{"role": "user", "content": content}, {"role": "assistant", "content": a1},
              {"role": "user", "content": "And its colours?"}]
    continued = server.chat(follow, max_tokens=8)["choices"][0]["message"]["content"]
    server.chat([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
                max_tokens=2)
    scratch = server.chat(follow, max_tokens=8)["choices"][0]["message"]["content"]
    check(continued == scratch, "a continued conversation equals the same one from scratch")

    sampled = [server.chat([{"role": "user", "content": q}], max_tokens=8, temperature=0.9,
                           top_p=0.9, seed=5)["choices"][0]["message"]["content"]
               for _ in range(2)]
    check(sampled[0] == sampled[1], "sampling with a seed repeats")

    bad = [(None, b"{not json", "not JSON"),
           ({"model": "x"}, None, "\"messages\" must be an array"),
           ({"messages": [{"role": "assistant", "content": "hi"}]}, None, "must answer"),
           ({"messages": [{"role": "user", "content": "hi"}, {"role": "system", "content": "s"}]},
            None, "must come first"),
           ({"messages": [{"role": "user", "content": [
               {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}}]}]},
            None, "only data: image URLs"),
           ({"messages": [{"role": "user", "content": [
               {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]},
            None, "not an image"),
           ({"messages": [{"role": "user", "content": [
               {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
               {"type": "video_url", "video_url": {"url": "data:video/mp4;base64,AAAA"}}]}]},
            None, "images or one video, not both"),
           ({"messages": [{"role": "user", "content": [
               {"type": "video_url", "video_url": {"url": "data:video/mp4;base64,AAAA"}}]}]},
            None, "the video:"),
           ({"messages": [{"role": "user", "content": "hi"}], "n": 2}, None, "\"n\""),
           ({"messages": [{"role": "user", "content": "hi"}], "temperature": 7}, None,
            "\"temperature\"")]
    for body, raw, reason in bad:
        status, text = server.post(body, raw)
        message = json.loads(text)["error"]["message"]
        check(status == 400 and reason in message, "400 with the reason: " + message)
    status, _ = server.post(None, b"")
    check(status == 400, "400 for an empty body")
    try:
        urllib.request.urlopen(server.base + "/chat/completions")
        check(False, "GET is refused")
    except urllib.error.HTTPError as e:
        check(e.code == 405, "405 for GET /v1/chat/completions")

    # A client that hangs up after the first pieces of a long answer cancels it: the next
    # request is answered at once instead of after thousands of tokens.
    conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
    conn.request("POST", "/v1/chat/completions",
                 json.dumps({"messages": [{"role": "user", "content": q}], "stream": True,
                             "max_tokens": 8000}), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    check(resp.status == 200 and resp.read1(64), "a long stream starts")
    resp.close()  # the response owns the socket of a "Connection: close" answer
    conn.close()
    t0 = time.time()
    server.chat([{"role": "user", "content": q}], max_tokens=4)
    check(time.time() - t0 < 5, "the hung-up stream stopped (next answer in %.1f s)"
          % (time.time() - t0))
    # the same for a client waiting for the whole answer, which is written nothing meanwhile
    conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
    conn.request("POST", "/v1/chat/completions",
                 json.dumps({"messages": [{"role": "user", "content": q}], "max_tokens": 8000}),
                 {"Content-Type": "application/json"})
    time.sleep(0.5)
    conn.close()
    t0 = time.time()
    server.chat([{"role": "user", "content": q}], max_tokens=4)
    check(time.time() - t0 < 5, "the abandoned whole answer stopped (next answer in %.1f s)"
          % (time.time() - t0))

    time.sleep(0.5)
    now = len(os.listdir("/proc/%d/fd" % server.proc.pid))
    check(now <= fds + 1, "connections are closed, not leaked (%d open files, %d at the start)"
          % (now, fds))

    server.proc.send_signal(signal.SIGTERM)
    check(server.proc.wait(timeout=30) == 0, "SIGTERM ends the server with status 0")


if __name__ == "__main__":
    try:
        main()
    finally:  # a failed check must not leave the server holding the test's output open
        for proc in SERVERS:
            if proc.poll() is None:
                proc.kill()
