"""`ivl serve --parallel 3` (continuous batching): requests sent together are answered
together, each streamed on its own as it is generated, with the greedy answers of a server that
answers one at a time; a request that comes while others answer joins them; a client that hangs
up leaves the batch and the others go on."""
import base64
import http.client
import json
import os
import socket
import threading
import time

from serve_common import HERE, Server, check, run_main, tiny_model  # noqa

IMAGE = os.path.join(HERE, "..", "..", "data", "demo", "red-panda.jpg")


def image_content(text):
    with open(IMAGE, "rb") as f:
        url = "data:image/jpeg;base64," + base64.b64encode(f.read()).decode()
    return [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": text}]


QUESTIONS = [("Hello! Who are you?", 30), ("Tell me about red pandas, in detail.", 24),
             (image_content("What is in the image?"), 20), ("Hi", 28)]


def body(q, max_tokens, stream):
    return json.dumps({"messages": [{"role": "user", "content": q}], "max_tokens": max_tokens,
                       "stream": stream})


def stream_into(server, q, max_tokens, out, key, first=None):
    """Streams one answer: its text and the arrival time of each content chunk; sets the
    event `first` when the first chunk comes."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=120)
    conn.request("POST", "/v1/chat/completions", body(q, max_tokens, True),
                 {"Content-Type": "application/json"})
    r = conn.getresponse()
    text, times = "", []
    for line in r:
        line = line.decode().strip()
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        c = json.loads(line[len("data: "):])
        piece = c["choices"][0]["delta"].get("content") if c.get("choices") else None
        if piece:
            text += piece
            times.append(time.monotonic())
            if first is not None:
                first.set()
    conn.close()
    out[key] = (r.status, text, times)


def together(server, questions):
    out, threads = {}, []
    for i, (q, n) in enumerate(questions):
        t = threading.Thread(target=stream_into, args=(server, q, n, out, i))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    return [out[i] for i in range(len(questions))]


def main():
    model = tiny_model()
    one = Server(model)
    want = [one.chat([{"role": "user", "content": q}], max_tokens=n)["choices"][0]["message"]
            ["content"] for q, n in QUESTIONS]
    one.stop()

    server = Server(model, "--parallel", "3")
    got = together(server, QUESTIONS)
    for (status, text, _), w, (q, _) in zip(got, want, QUESTIONS):
        check(status == 200 and text == w,
              "answered together as alone: %r vs %r" % (text[:60], w[:60]))
    check(all(len(g[2]) > 3 for g in got), "each answer streamed in several pieces")
    # Two long answers at once: each one's first piece comes before the other's last.
    a, b = together(server, [(QUESTIONS[0][0], 300), (QUESTIONS[3][0], 300)])
    check(a[2][0] < b[2][-1] and b[2][0] < a[2][-1],
          "two streams overlap in time (%.3f..%.3f, %.3f..%.3f)" %
          (a[2][0], a[2][-1], b[2][0], b[2][-1]))

    # A request sent while another answers joins it; the answers stay the same.
    # It is sent once the other has streamed its first piece (a fixed wait let a fast machine
    # finish the other first), while it still has hundreds of tokens to go.
    out, started = {}, threading.Event()
    long_one = threading.Thread(target=stream_into,
                                args=(server, QUESTIONS[1][0], 300, out, "long", started))
    long_one.start()
    check(started.wait(60), "the long answer started streaming")
    stream_into(server, QUESTIONS[0][0], QUESTIONS[0][1], out, "joined")
    long_one.join()
    check(out["joined"][1] == want[0], "a request that joins a running one answers as alone")
    check(out["joined"][2][0] < out["long"][2][-1], "it answered while the other one streamed")

    # A client that hangs up mid-stream leaves; the others answer.
    s = socket.create_connection((server.host, server.port))
    b = body("Count to a thousand.", 2000, True).encode()
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
              b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
              % (server.port, len(b)) + b)
    s.settimeout(60)
    got_bytes = b""
    while b"data: " not in got_bytes:
        chunk = s.recv(4096)
        if not chunk:
            break
        got_bytes += chunk
    check(b"data: " in got_bytes, "the hanging-up client's stream started: %r" % got_bytes[:200])
    s.close()
    again = together(server, QUESTIONS[:2])
    check([g[1] for g in again] == want[:2], "after a client hung up the others answer as alone")
    server.stop()


if __name__ == "__main__":
    run_main(main)
