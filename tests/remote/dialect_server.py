"""A stand-in for vLLM, LMDeploy or llama-server on 127.0.0.1 (any free port) that replays
their wire format as docs/remote-servers.md records it: /v1/models, streamed chat
completions (usage chunks, SSE quirks), their error bodies, and faults on demand.

    dialect_server.py DIALECT [--api-key KEY]      prints http://127.0.0.1:PORT, then serves

A question (the last user message's text) starting with "FAULT " picks a fault:
  401 (also without the right key), 404 (also for a model not served), 429, 429-once,
  503-once, 500,
  context, no-done, reset, hang, stream-error, stream-error-new (llama-server's newer form),
  whole (a non-streamed answer), box (a grounding answer), slow (200 words, 20 a second, for a client to stop or a
  test to kill the server in the middle).
GET /last-request returns the last chat request's JSON body, for the test to check its shape.
"""
import json
import os
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DIALECT = sys.argv[1]
API_KEY = sys.argv[sys.argv.index("--api-key") + 1] if "--api-key" in sys.argv else None
MODEL = {"vllm": "OpenGVLab/InternVL3-78B", "lmdeploy": "InternVL3-78B",
         "llama-server": "InternVL3-8B-Instruct-Q8_0.gguf"}[DIALECT]
ANSWER = ["The ", "picture ", "shows ", "a ", "red ", "panda", "."]
STATE = {"last": None, "429": 0, "503": 0}
LOCK = threading.Lock()


def error_body(status, message, etype, param=None):
    """The server's own error shape (docs/remote-servers.md, "Error bodies")."""
    if DIALECT == "vllm":
        if status == 401:
            return {"error": "Unauthorized"}  # AuthenticationMiddleware: a string
        return {"error": {"message": message, "type": etype, "param": param, "code": status}}
    if DIALECT == "lmdeploy":  # flat, no wrapper
        return {"message": message, "type": etype, "code": status, "param": param,
                "object": "error"}
    return {"error": {"code": status, "message": message, "type": etype}}  # llama-server


def context_error():
    if DIALECT == "vllm":
        return error_body(400, "This model's maximum context length is 32768 tokens. However, "
                          "your request has 40000 input tokens. Please reduce the length of the "
                          "input messages.", "BadRequestError", "input_tokens")
    if DIALECT == "lmdeploy":
        return error_body(400, "Input length (40000) must be smaller than the model context "
                          "length (16384).", "invalid_request_error")
    body = error_body(400, "request (40000 tokens) exceeds the available context size (4096 "
                      "tokens), try increasing it", "exceed_context_size_error")
    body["error"].update(n_prompt_tokens=40000, n_ctx=4096)
    return body


def chunk(delta=None, finish=None, usage=None, choices=True):
    c = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": MODEL,
         "choices": [{"index": 0, "delta": delta or {}, "logprobs": None,
                      "finish_reason": finish}] if choices else []}
    if DIALECT == "vllm" or usage is not None:
        c["usage"] = usage  # vLLM writes "usage": null on content chunks
    if DIALECT == "llama-server" and finish:
        c["timings"] = {"prompt_n": 11, "predicted_n": len(ANSWER)}
    return c


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def version_string(self):
        return "llama.cpp" if DIALECT == "llama-server" else "uvicorn"

    def send_json(self, status, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def authorized(self):
        return API_KEY is None or self.headers.get("Authorization") == "Bearer " + API_KEY

    def do_GET(self):
        if self.path == "/last-request":
            return self.send_json(200, STATE["last"])
        if not self.authorized():
            return self.send_json(401, error_body(401, "Invalid API Key", "authentication_error"))
        if self.path != "/v1/models":
            return self.send_json(404, error_body(404, "Not Found", "not_found_error"))
        card = {"id": MODEL, "object": "model", "created": 0,
                "owned_by": {"vllm": "vllm", "lmdeploy": "lmdeploy",
                             "llama-server": "llamacpp"}[DIALECT]}
        if DIALECT == "vllm":
            card.update(root=MODEL, parent=None, max_model_len=32768, permission=[])
        if DIALECT == "llama-server":
            card["meta"] = {"n_ctx_train": 32768, "n_vocab": 151674}
        self.send_json(200, {"object": "list", "data": [card]})

    def sse(self, payload, field="data"):
        line = "%s: %s\n\n" % (field, payload if isinstance(payload, str) else json.dumps(payload))
        data = line.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def start_stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def end_chunks(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length))
        with LOCK:
            STATE["last"] = body
        if not self.authorized():
            return self.send_json(401, error_body(401, "Invalid API Key", "authentication_error"))
        content = body["messages"][-1]["content"]
        text = content if isinstance(content, str) else "".join(
            p.get("text", "") for p in content if p["type"] == "text")
        fault = text.split("FAULT ", 1)[1].split()[0] if "FAULT " in text else None
        if fault == "404" or (DIALECT != "llama-server" and body.get("model") != MODEL):
            return self.send_json(404, error_body(
                404, "The model `%s` does not exist." % body.get("model"), "NotFoundError",
                "model"))
        if fault == "401":
            return self.send_json(401, error_body(401, "Invalid API Key", "authentication_error"))
        if fault == "context":
            return self.send_json(400, context_error())
        if fault == "500":
            return self.send_json(500, error_body(500, "Only one completion choice is allowed",
                                                  "server_error"))
        if fault in ("429", "429-once"):
            with LOCK:
                STATE["429"] += fault == "429-once"
                n = STATE["429"]
            if fault == "429" or n % 2 == 1:  # 429-once: every other time
                return self.send_json(429, error_body(429, "queue full", "rate_limit_error"),
                                      {"Retry-After": "1"})
        if fault == "503-once":  # a server still loading its model: every other time
            with LOCK:
                STATE["503"] += 1
                n = STATE["503"]
            if n % 2 == 1:
                return self.send_json(503, error_body(503, "model is loading",
                                                      "service_unavailable"))
        if fault == "whole":
            return self.send_json(200, {"id": "chatcmpl-1", "object": "chat.completion",
                                        "model": MODEL, "choices": [{
                                            "index": 0, "finish_reason": "stop",
                                            "message": {"role": "assistant",
                                                        "content": "".join(ANSWER)}}],
                                        "usage": {"prompt_tokens": 11,
                                                  "completion_tokens": 7, "total_tokens": 18}})
        self.stream(body, fault)

    def stream(self, body, fault):
        self.start_stream()
        self.sse(chunk({"role": "assistant", "content": ""}))
        if fault == "slow":
            try:
                for i in range(200):
                    self.sse(chunk({"content": "word%d " % i}))
                    time.sleep(0.05)
            except (BrokenPipeError, ConnectionResetError):
                return  # the client stopped the answer
        pieces = ANSWER[:3] if fault in ("no-done", "reset", "hang", "stream-error",
                                         "stream-error-new") else ANSWER
        if fault == "box":  # InternVL3's grounding answer, box corners in 0-1000
            pieces = ["<ref>the red square</ref>", "<box>[[100, 200, 400, 600]]</box>"]
        for p in pieces:
            self.sse(chunk({"content": p}))
        if fault == "no-done":
            return self.end_chunks()
        if fault == "reset":
            # An RST, not a FIN: SO_LINGER with a zero timeout, as a crashed server's kernel sends.
            # detach: rfile and wfile would otherwise keep the socket open after close.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            os.close(self.connection.detach())
            self.close_connection = True
            return
        if fault == "hang":
            time.sleep(30)
            return
        if fault == "stream-error-new" and DIALECT == "llama-server":
            # Newer llama-servers: a data: event with the error, then the stream ends, no [DONE].
            self.sse(error_body(500, "CUDA out of memory", "server_error"))
            return self.end_chunks()
        if fault == "stream-error":
            err = error_body(500, "CUDA out of memory", "server_error")
            if DIALECT == "llama-server":
                # The older llama-server's own SSE field; newer ones send data: and stop.
                self.sse(err["error"], field="error")
                return self.end_chunks()
            self.sse(err if "error" in err else {"error": err})
            self.sse("[DONE]")
            return self.end_chunks()
        self.sse(chunk({}, finish="stop"))
        opts = body.get("stream_options") or {}
        # vLLM's include_usage defaults to true once stream_options is sent.
        if opts.get("include_usage", DIALECT == "vllm" and "stream_options" in body):
            self.sse(chunk(usage={"prompt_tokens": 11, "completion_tokens": len(ANSWER),
                                  "total_tokens": 11 + len(ANSWER)}, choices=False))
        self.sse("[DONE]")
        self.end_chunks()


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print("http://127.0.0.1:%d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
