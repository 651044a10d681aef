#!/usr/bin/python3
"""`ivl serve` against hostile and careless clients, on loopback: a list of hostile requests
(deep nesting, huge numbers, duplicate keys, invalid UTF-8 and lone surrogates, a 200 MB body,
1,000 parts, 10,000 messages, slow senders) after each of which the server must answer an
ordinary request; clients that half-close; the body, queue and time limits; keep-alives for
queued streams; CORS, the Host header, the API key; address errors before the model loads.
Every loop is bounded in count and time."""
import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_common import IVL, Server, check, error_of, events_of, run_main, tiny_model  # noqa

HI = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
PNG = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4"
       "z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC")


def ordinary(server, after):
    status, text = server.post(HI)
    check(status == 200 and json.loads(text)["choices"][0]["finish_reason"] == "length",
          "the next ordinary request is answered after " + after)


def read_all(s):
    """What the server sends until it closes the connection (or resets it)."""
    out = b""
    while True:
        try:
            b = s.recv(65536)
        except OSError:
            break
        if not b:
            break
        out += b
    s.close()
    return out


def raw(server, data, shut_write=False, timeout=30):
    """Sends bytes on a fresh connection and reads the whole answer."""
    s = socket.create_connection((server.host, server.port), timeout=timeout)
    s.sendall(data)
    if shut_write:
        s.shutdown(socket.SHUT_WR)
    return read_all(s)


def http_bytes(body, path="/v1/chat/completions", extra=""):
    return (("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
             "Content-Length: %d\r\n%s\r\n") % (path, len(body), extra)).encode() + body


def status_and_body(answer):
    head, _, body = answer.partition(b"\r\n\r\n")
    while head.startswith(b"HTTP/1.1 100"):  # informational answers come first
        head, _, body = body.partition(b"\r\n\r\n")
    return int(head.split()[1]), head.decode(), body


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))


def hostile(server):
    cases = [
        ("100,000 nested arrays", b'{"messages":[{"role":"user","content":"hi"}],"x":' +
         b"[" * 100000 + b"]" * 100000 + b"}", "nests deeper"),
        ("100,000 nested objects", b'{"messages":[{"role":"user","content":"hi"}],"x":' +
         b'{"a":' * 100000 + b"1" + b"}" * 100000 + b"}", "nests deeper"),
        ("an integer of 400 digits", b'{"messages":[{"role":"user","content":"hi"}],'
         b'"max_tokens":' + b"9" * 400 + b"}", "digits"),
        ("1e999", b'{"messages":[{"role":"user","content":"hi"}],"seed":1e999}', "\"seed\""),
        ("-1e308 tokens", b'{"messages":[{"role":"user","content":"hi"}],"max_tokens":-1e308}',
         "\"max_tokens\""),
        ("a duplicate key", b'{"messages":[{"role":"user","content":"hi"}],'
         b'"messages":[{"role":"user","content":"ho"}]}', "twice"),
        ("invalid UTF-8", b'{"messages":[{"role":"user","content":"\xff\xfe hi"}]}', "UTF-8"),
        ("a lone surrogate", b'{"messages":[{"role":"user","content":"\\ud800 hi"}]}',
         "Unicode"),
        ("a NUL byte", b'{"messages":[{"role":"user","content":"hi\x00"}]}', "UTF-8"),
    ]
    for what, body, reason in cases:
        status, text = server.post(body)
        e = error_of(text)
        check(status == 400 and reason in e["message"],
              "%s: 400 (%s)" % (what, e["message"][:100]))
        ordinary(server, what)

    parts = [{"type": "text", "text": "part %d" % i} for i in range(1000)]
    status, text = server.post({"messages": [{"role": "user", "content": parts}],
                                "max_tokens": 2})
    check(status == 200, "1,000 text parts are one question")
    images = [{"type": "image_url", "image_url": {"url": PNG}} for _ in range(1000)]
    t0 = time.time()
    status, text = server.post({"messages": [{"role": "user", "content": images}]})
    e = error_of(text)
    check(status == 400 and e["code"] == "context_length_exceeded" and time.time() - t0 < 10,
          "1,000 image parts: 400 before decoding them (%.1f s): %s"
          % (time.time() - t0, e["message"]))
    ordinary(server, "1,000 parts")
    messages = []
    for i in range(5000):
        messages += [{"role": "user", "content": "question %d" % i},
                     {"role": "assistant", "content": "answer %d" % i}]
    messages[-1] = {"role": "user", "content": "last"}
    t0 = time.time()
    status, text = server.post({"messages": messages})
    e = error_of(text)
    check(status == 400 and e["code"] == "context_length_exceeded" and time.time() - t0 < 20,
          "10,000 messages: 400 context_length_exceeded in %.1f s" % (time.time() - t0))
    ordinary(server, "10,000 messages")

    # 200 MB: refused from its headers. With "Expect: 100-continue" nothing is sent; without,
    # the bytes are read and dropped, never held.
    size = 200 << 20
    s = socket.create_connection((server.host, server.port), timeout=30)
    s.sendall(("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
               "application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n"
               % size).encode())
    status, _, body = status_and_body(read_all(s))
    check(status == 413 and b"body_too_large" in body,
          "a 200 MB body announced with Expect: 100-continue: 413 before any byte is sent")
    before = rss_kb(server.proc.pid)
    s = socket.create_connection((server.host, server.port), timeout=60)
    s.sendall(("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
               "application/json\r\nContent-Length: %d\r\n\r\n" % size).encode())
    chunk = b" " * (1 << 20)
    try:
        for _ in range(200):
            s.sendall(chunk)
    except OSError:
        pass  # the server may answer and close first
    answer = read_all(s)
    grown = rss_kb(server.proc.pid) - before
    check(answer.startswith(b"HTTP/1.1 413") and grown < 50 * 1024,
          "a 200 MB body sent: 413, and the server grew by %d KiB only" % grown)
    ordinary(server, "a 200 MB body")

    # chunked, without a length: cut off at the limit too
    s = socket.create_connection((server.host, server.port), timeout=60)
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
              b"application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    try:
        for _ in range(80):
            s.sendall(b"100000\r\n" + chunk + b"\r\n")
        s.sendall(b"0\r\n\r\n")
    except OSError:
        pass
    check(read_all(s).startswith(b"HTTP/1.1 413"), "an 80 MB chunked body: 413")
    ordinary(server, "an 80 MB chunked body")


def slow_senders(model):
    server = Server(model, "--receive-timeout", "2")
    fds = server.fds()
    idle = [socket.create_connection((server.host, server.port)) for _ in range(200)]
    partial = []
    for _ in range(20):
        s = socket.create_connection((server.host, server.port))
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
        partial.append(s)
    body = socket.create_connection((server.host, server.port))
    body.sendall(http_bytes(b'{"messages":[{"role":"user","content":"hi"}]}' + b" " * 1000)[:-900])
    t0 = time.time()
    ordinary(server, "220 slow connections opened")
    check(time.time() - t0 < 2, "an ordinary request is not held up by them")
    time.sleep(3.5)
    closed = 0
    for s in idle + partial + [body]:
        s.settimeout(5)
        try:
            closed += s.recv(100) == b""
        except ConnectionResetError:
            closed += 1
        except socket.timeout:
            pass
        s.close()
    check(closed == 221, "the server closed the idle, half-sent and slow connections after its "
          "receive timeout (%d of 221)" % closed)
    time.sleep(0.5)
    check(server.fds() <= fds + 1, "no connection left open (%d files, %d before)"
          % (server.fds(), fds))
    ordinary(server, "slow senders")
    server.stop()


def half_close(server):
    body = json.dumps(HI).encode()
    status, head, text = status_and_body(raw(server, http_bytes(body), shut_write=True))
    check(status == 200 and json.loads(text)["choices"][0]["finish_reason"] == "length",
          "a client that half-closes after its request gets the whole answer")
    body = json.dumps(dict(HI, stream=True)).encode()
    status, head, text = status_and_body(raw(server, http_bytes(body), shut_write=True))
    events = events_of(text.decode())
    check(status == 200 and events[-1] == "[DONE]" and
          json.loads(events[-2])["choices"][0]["finish_reason"] == "length",
          "a half-closed streaming client gets every event, the finish reason and [DONE]")


def until_free(server):
    """Seconds until the server takes a request again (it notices a client that left within a
    token, or within its 1 s look at the queue)."""
    t0 = time.time()
    while server.post(HI)[0] == 429 and time.time() - t0 < 30:
        time.sleep(0.2)
    return time.time() - t0


def queue(model):
    server = Server(model, "--max-queue", "1")
    long = json.dumps({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 100000,
                       "stream": True}).encode()
    a = socket.create_connection((server.host, server.port), timeout=30)
    a.sendall(http_bytes(long))
    check(a.recv(4096).startswith(b"HTTP/1.1 200"), "a long stream runs")
    b = socket.create_connection((server.host, server.port), timeout=30)
    t0 = time.time()
    b.sendall(http_bytes(long))
    # The headers and the comment may come in separate segments.
    first = b.recv(4096)
    while b": keep-alive" not in first and time.time() - t0 < 2:
        first += b.recv(4096)
    check(first.startswith(b"HTTP/1.1 200") and b": keep-alive" in first and
          time.time() - t0 < 2,
          "a queued stream gets its headers and a keep-alive comment at once (%.2f s)"
          % (time.time() - t0))
    status, headers, text = server.request("POST", "/v1/chat/completions", HI)
    e = error_of(text)
    check(status == 429 and headers["Retry-After"] and e["code"] == "queue_full",
          "beyond --max-queue: 429 with Retry-After: " + e["message"])
    got, t0 = first, time.time()
    b.settimeout(0.5)
    while got.count(b": keep-alive") < 3 and time.time() - t0 < 5:
        try:
            got += b.recv(4096)
        except socket.timeout:
            pass
    check(got.count(b": keep-alive") >= 3 and b'"content"' not in got.split(b"\r\n\r\n", 1)[1]
          .replace(b'"content":""', b""),
          "the queued stream gets a keep-alive every second while it waits, and no text "
          "(%.1f s)" % (time.time() - t0))
    b.close()
    a.close()
    ordinary(server, "the long stream and the queued one left (%.1f s)" % until_free(server))

    # a queued client that leaves costs nothing: its turn is skipped
    a = socket.create_connection((server.host, server.port), timeout=30)
    a.sendall(http_bytes(long))
    a.recv(4096)
    d = socket.create_connection((server.host, server.port), timeout=30)
    d.sendall(http_bytes(json.dumps({"messages": [{"role": "user", "content": "ho"}],
                                     "max_tokens": 100000}).encode()))
    time.sleep(0.5)
    d.close()
    time.sleep(2.5)  # the server notices within its 1 s look at waiting clients
    a.close()
    waited = until_free(server)
    ordinary(server, "a queued client left")
    check(waited < 5, "the left client's request was dropped unrun (next answer in %.1f s; "
          "running it would take about 25 s)" % waited)
    server.stop()


def browsers_and_keys(model):
    server = Server(model, "--allowed-origins", "https://app.example")
    status, headers, _ = server.request("OPTIONS", "/v1/chat/completions", headers={
        "Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, authorization"})
    check(status == 204 and headers["Access-Control-Allow-Origin"] == "http://localhost:3000" and
          "POST" in headers["Access-Control-Allow-Methods"] and
          headers["Access-Control-Allow-Headers"] == "content-type, authorization",
          "a preflight from a loopback page: 204 with the CORS headers")
    status, headers, _ = server.request("POST", "/v1/chat/completions", HI,
                                        {"Origin": "https://app.example"})
    check(status == 200 and headers["Access-Control-Allow-Origin"] == "https://app.example",
          "a page of an --allowed-origins origin is answered, with its origin allowed")
    for origin in ("https://evil.example", "null", "http://localhost.evil.example"):
        status, headers, text = server.request("POST", "/v1/chat/completions", HI,
                                               {"Origin": origin, "Content-Type": "text/plain"})
        check(status == 403 and "Access-Control-Allow-Origin" not in headers and
              "origin" in error_of(text)["message"],
              "a text/plain POST from the page %s: 403" % origin)
    status, _, text = server.request("OPTIONS", "/v1/chat/completions",
                                     headers={"Origin": "https://evil.example"})
    check(status == 403, "a preflight from another page: 403")
    for host in ("evil.example", "evil.example:%d" % server.port):
        status, _, text = server.request("GET", "/v1/models", headers={"Host": host})
        check(status == 403 and "Host" in error_of(text)["message"],
              "Host: %s (DNS rebinding): 403" % host)
    for host in ("localhost:%d" % server.port, "127.0.0.1:%d" % server.port):
        status, _, _ = server.request("GET", "/v1/models", headers={"Host": host})
        check(status == 200, "Host: %s is answered" % host)
    server.stop()

    env = dict(os.environ, IVL_API_KEY="s3cret")
    for server in (Server(model, "--api-key", "s3cret", "--host", "localhost"),
                   Server(model, env=env)):
        status, _, text = server.request("GET", "/v1/models")
        e = error_of(text)
        check(status == 401 and e["code"] == "invalid_api_key", "no key: 401 invalid_api_key")
        status, _, _ = server.request("GET", "/v1/models",
                                      headers={"Authorization": "Bearer wrong"})
        check(status == 401, "a wrong key: 401")
        status, _, _ = server.request("POST", "/v1/chat/completions", HI,
                                      {"Authorization": "Bearer s3cret"})
        check(status == 200, "the key: 200 (%s)" % server.base)
        status, _, _ = server.request("GET", "/health")
        check(status == 200, "/health needs no key")
        server.stop()

    # address errors come before the model loads (-m names nothing here)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    for args, reason in ((["--host", "nonsense"], "not an IP address"),
                         (["--port", str(busy.getsockname()[1])], "in use")):
        out = subprocess.run([IVL, "serve", "-m", "/nonexistent/model", *args],
                             capture_output=True, text=True, timeout=60)
        check(out.returncode == 1 and reason in out.stderr and "nonexistent" not in out.stderr,
              "%s: told before loading the model: %s" % (" ".join(args), out.stderr.strip()))
    busy.close()
    out = subprocess.run([IVL, "serve", "-m", "/nonexistent/model", "--host", "0.0.0.0",
                          "--port", "0"], capture_output=True, text=True, timeout=60)
    check("warning" in out.stderr and "--api-key" in out.stderr,
          "binding beyond loopback without a key warns: " + out.stderr.splitlines()[0])


def main():
    model = tiny_model()
    server = Server(model)
    hostile(server)
    half_close(server)
    server.stop()
    slow_senders(model)
    queue(model)
    browsers_and_keys(model)


if __name__ == "__main__":
    run_main(main)
