#!/usr/bin/python3
"""A loopback stand-in for the Hugging Face Hub (spec/HUB.md) serving one small fake repo,
with faults on demand, for the download tests.

Usage: hub_server.py [--write-repo DIR]
Prints "PORT <n>" once listening on 127.0.0.1 (ephemeral port); exits when stdin closes. With --write-repo, writes the
repo's files to DIR so a test can compare what it downloaded byte for byte.

Every repo id serves the same files, except:
  gated/<name>    401 with X-Error-Code: GatedRepo
  missing/<name>  404 with X-Error-Code: RepoNotFound
  evil/<name>     a listing that names ../escape.txt
LFS files answer a 302 to http://localhost:<port>/lfs/<sha256> (another host name than the
endpoint 127.0.0.1, to test that Authorization is not sent there); plain files a relative
302 to /raw/<repo>/<commit>/<path>.

Control (GET):
  /_fault?kind=K&path=P[&count=N]  the next N (1) transfers of P get fault K:
      drop (half the body, then the connection closes), error500, ratelimit (429,
      Retry-After: 1), corrupt (one byte flipped), truncate (Content-Length and body one
      quarter short), ignore_range (a 200 with the whole file despite Range)
  /_throttle?bps=N      body bytes per second per transfer (0 = unlimited)
  /_stats               JSON: bytes_sent per path, requests per path, auth headers seen
                        on the storage host and on the endpoint, revisions used to resolve
  /_reset               clears faults, throttle and stats
"""
import hashlib
import json
import os
import random
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"
PAGE = 3  # tree entries per page, so even this small listing is paginated


def make_files():
    rng = random.Random(7)
    config = json.dumps({"architectures": ["InternVLChatModel"], "model_type": "internvl_chat",
                         "note": "fake repo for ivl's download tests"}, indent=2).encode()
    files = {
        "config.json": (config, False),
        "generation_config.json": (b'{"eos_token_id": 151645}\n', False),
        "model.safetensors": (rng.randbytes(400 * 1024), True),
        "shards/part/model-00001-of-00002.safetensors": (rng.randbytes(300 * 1024 + 17), True),
        "shards/part/model-00002-of-00002.safetensors": (rng.randbytes(200 * 1024 + 5), True),
        "tokenizer/vocab.json": (rng.randbytes(40 * 1024), False),
    }
    return files


FILES = make_files()


def blob_oid(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def tree_entries(evil):
    dirs = set()
    entries = []
    for path, (data, lfs) in FILES.items():
        parts = path.split("/")
        for i in range(1, len(parts)):
            d = "/".join(parts[:i])
            if d not in dirs:
                dirs.add(d)
                entries.append({"type": "directory", "path": d, "oid": "0" * 40, "size": 0})
        e = {"type": "file", "path": path, "oid": blob_oid(data), "size": len(data)}
        if lfs:
            e["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data),
                        "pointerSize": 134}
        entries.append(e)
    if evil:
        entries.append({"type": "file", "path": "../escape.txt", "oid": "1" * 40, "size": 4})
    return entries


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        # Transfers still running from before a reset count no more bytes.
        self.generation = getattr(self, "generation", 0) + 1
        self.faults = {}  # path -> [kind, remaining]
        self.bps = 0
        self.bytes_sent = {}
        self.requests = {}
        self.auth_storage = 0
        self.auth_endpoint = 0
        self.revisions = []

    def take_fault(self, path):
        with self.lock:
            f = self.faults.get(path)
            if not f or f[1] <= 0:
                return None
            f[1] -= 1
            return f[0]


STATE = State()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        if os.environ.get("HUB_SERVER_VERBOSE"):
            sys.stderr.write("hub_server: " + fmt % args + "\n")

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def reply_json(self, obj, headers=()):
        self.reply(200, json.dumps(obj).encode(), [("Content-Type", "application/json")]
                   + list(headers))

    def error_code(self, status, code):
        self.reply(status, json.dumps({"error": code}).encode(), [("X-Error-Code", code)])

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        query = urllib.parse.parse_qs(url.query)
        host = (self.headers.get("Host") or "").split(":")[0]
        has_auth = self.headers.get("Authorization") is not None
        with STATE.lock:
            if has_auth and host == "localhost":
                STATE.auth_storage += 1
            elif has_auth:
                STATE.auth_endpoint += 1
        try:
            self.route(path, query)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def route(self, path, query):
        if path.startswith("/_"):
            return self.control(path, query)
        if path.startswith("/api/models/"):
            return self.api(path[len("/api/models/"):], query)
        if path.startswith("/lfs/"):
            sha = path[len("/lfs/"):]
            for name, (data, lfs) in FILES.items():
                if lfs and hashlib.sha256(data).hexdigest() == sha:
                    return self.send_file(name, data)
            return self.error_code(404, "EntryNotFound")
        if path.startswith("/raw/"):
            parts = path[len("/raw/"):].split("/", 3)
            if len(parts) == 4 and parts[3] in FILES:
                return self.send_file(parts[3], FILES[parts[3]][0])
            return self.error_code(404, "EntryNotFound")
        parts = path.lstrip("/").split("/", 4)
        if len(parts) == 5 and parts[2] == "resolve":
            return self.resolve(parts[0] + "/" + parts[1], parts[3], parts[4])
        self.error_code(404, "RepoNotFound")

    def control(self, path, query):
        if path == "/_fault":
            with STATE.lock:
                STATE.faults[query["path"][0]] = [query["kind"][0],
                                                  int(query.get("count", ["1"])[0])]
            return self.reply_json({"ok": True})
        if path == "/_throttle":
            with STATE.lock:
                STATE.bps = int(query["bps"][0])
            return self.reply_json({"ok": True})
        if path == "/_reset":
            with STATE.lock:
                STATE.reset()
            return self.reply_json({"ok": True})
        if path == "/_stats":
            with STATE.lock:
                return self.reply_json({"bytes_sent": STATE.bytes_sent,
                                        "requests": STATE.requests,
                                        "auth_storage": STATE.auth_storage,
                                        "auth_endpoint": STATE.auth_endpoint,
                                        "revisions": STATE.revisions})
        self.reply(404)

    def repo_error(self, repo):
        org = repo.split("/")[0]
        if org == "gated":
            self.error_code(401, "GatedRepo")
            return True
        if org == "missing":
            self.error_code(404, "RepoNotFound")
            return True
        return False

    def api(self, rest, query):
        parts = rest.split("/", 3)
        if len(parts) < 4:
            return self.error_code(404, "RepoNotFound")
        repo = parts[0] + "/" + parts[1]
        if self.repo_error(repo):
            return
        if parts[2] == "revision":
            if parts[3] not in ("main", COMMIT):
                return self.error_code(404, "RevisionNotFound")
            siblings = [{"rfilename": p} for p in FILES]
            return self.reply_json({"id": repo, "sha": COMMIT, "siblings": siblings,
                                    "gated": False, "private": False})
        if parts[2] == "tree":
            entries = tree_entries(parts[0] == "evil")
            start = int(query.get("cursor", ["0"])[0])
            headers = []
            if start + PAGE < len(entries):
                nxt = "/api/models/%s/tree/%s?recursive=true&cursor=%d" % (
                    repo, parts[3], start + PAGE)
                headers.append(("Link", '<http://127.0.0.1:%d%s>; rel="next"'
                                % (self.server.server_port, nxt)))
            return self.reply_json(entries[start:start + PAGE], headers)
        self.error_code(404, "RepoNotFound")

    def resolve(self, repo, revision, name):
        if self.repo_error(repo):
            return
        with STATE.lock:
            STATE.revisions.append(revision)
        if name not in FILES:
            return self.error_code(404, "EntryNotFound")
        data, lfs = FILES[name]
        headers = [("X-Repo-Commit", COMMIT), ("ETag", '"%s"' % blob_oid(data))]
        if lfs:
            sha = hashlib.sha256(data).hexdigest()
            headers += [("X-Linked-Etag", '"%s"' % sha), ("X-Linked-Size", str(len(data))),
                        ("Location", "http://localhost:%d/lfs/%s"
                         % (self.server.server_port, sha))]
        else:
            headers.append(("Location", "/raw/%s/%s/%s" % (repo, COMMIT,
                                                           urllib.parse.quote(name))))
        self.reply(302, b"", headers)

    def send_file(self, name, data):
        with STATE.lock:
            STATE.requests[name] = STATE.requests.get(name, 0) + 1
        fault = STATE.take_fault(name)
        if fault == "error500":
            return self.error_code(500, "InternalError")
        if fault == "ratelimit":
            return self.reply(429, b"slow down", [("Retry-After", "1")])
        start = 0
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and fault != "ignore_range":
            start = int(rng[len("bytes="):].split("-")[0])
        if start >= len(data) and rng and fault != "ignore_range":
            return self.reply(416, b"", [("Content-Range", "bytes */%d" % len(data))])
        body = data[start:]
        if fault == "corrupt":
            body = bytearray(body)
            body[len(body) // 2] ^= 0xFF
            body = bytes(body)
        if fault == "truncate":
            body = body[:len(body) * 3 // 4]
        self.send_response(206 if start > 0 else 200)
        if start > 0:
            self.send_header("Content-Range",
                             "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if fault == "drop":
            body = body[:len(body) // 2]
        self.write_body(name, body)
        if fault == "drop":
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True

    def write_body(self, name, body):
        chunk = 16 * 1024
        with STATE.lock:
            generation = STATE.generation
        for i in range(0, len(body), chunk):
            piece = body[i:i + chunk]
            self.wfile.write(piece)
            with STATE.lock:
                if STATE.generation == generation:
                    STATE.bytes_sent[name] = STATE.bytes_sent.get(name, 0) + len(piece)
                bps = STATE.bps
            if bps:
                self.wfile.flush()
                time.sleep(len(piece) / bps)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that hangs up (a cancelled download) is part of the tests, not an error.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def main():
    server = Server(("127.0.0.1", 0), Handler)
    if "--write-repo" in sys.argv:
        out = sys.argv[sys.argv.index("--write-repo") + 1]
        for name, (data, _) in FILES.items():
            os.makedirs(os.path.dirname(os.path.join(out, name)), exist_ok=True)
            with open(os.path.join(out, name), "wb") as f:
                f.write(data)
    print("PORT %d" % server.server_port, flush=True)
    # The test holds our stdin open; when it ends (even by a crash) we end too.
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()


if __name__ == "__main__":
    main()
