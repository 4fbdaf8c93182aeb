# A stand-in for the Hugging Face hub on loopback, speaking the part of its protocol that
# `kiln pull` uses: the tree listing (GET /api/models/OWNER/REPO/tree/REV, LFS files with
# `lfs.oid` = sha256 and size), `resolve/` (HEAD and GET; a 302 to a CDN path, with
# X-Repo-Commit and X-Linked-Etag as the hub sends them) and the CDN itself (byte ranges).
# Faults are switched per test: cut the connection after N bytes, answer with a status,
# publish a wrong sha256. Every CDN request's Range header is logged.
import hashlib
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class FakeHub:
    def __init__(self):
        self.repos = {}          # "owner/repo" -> {path_in_repo: local file}
        self.wrong_sha = set()   # (repo, path) whose published sha256 is wrong
        self.status = {}         # repo -> HTTP status for its resolve/ URLs
        self.token = {}          # repo -> the bearer token it requires
        self.cut_after = None    # CDN responses stop after this many bytes ...
        self.cuts_left = 0       # ... this many times
        self.ranges = []         # (path, Range header or None) per CDN GET
        self.ps_reply = None     # the JSON /api/ps answers (kiln ps), or None: 404
        self._sha = {}
        self.lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                hub._handle(self, head=True)

            def do_GET(self):
                hub._handle(self, head=False)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, repo, path, local_file):
        self.repos.setdefault(repo, {})[path] = str(local_file)

    def sha(self, local):
        if local not in self._sha:
            self._sha[local] = sha256_of(local)
        return self._sha[local]

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    # ---- request handling ----

    def _send(self, h, status, body=b"", headers=None, head=False):
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if not head:
            h.wfile.write(body)

    def _handle(self, h, head):
        path = h.path.split("?")[0]
        parts = path.strip("/").split("/")
        if path == "/api/ps":
            if self.ps_reply is None:
                return self._send(h, 404, b"{}", head=head)
            return self._send(h, 200, json.dumps(self.ps_reply).encode(),
                              {"Content-Type": "application/json"}, head)
        if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] == "tree":
            return self._tree(h, parts[2] + "/" + parts[3], head)
        if len(parts) >= 5 and parts[2] == "resolve":
            return self._resolve(h, parts[0] + "/" + parts[1], "/".join(parts[4:]), head)
        if parts[0] == "cdn" and len(parts) >= 4:
            return self._cdn(h, parts[1] + "/" + parts[2], "/".join(parts[3:]), head)
        if parts[0] == "files" and len(parts) == 2:  # plain URLs, no hub around them
            for files in self.repos.values():
                for p, local in files.items():
                    if p == parts[1]:
                        return self._serve_bytes(h, "files/" + p, local, head, {"Accept-Ranges": "bytes"})
        self._send(h, 404, b'{"error": "not found"}', head=head)

    def _tree(self, h, repo, head):
        if repo not in self.repos:
            return self._send(h, 404, b'{"error": "Repository not found"}', head=head)
        entries = []
        for p, local in sorted(self.repos[repo].items()):
            size = os.path.getsize(local)
            sha = self.sha(local)
            if (repo, p) in self.wrong_sha:
                sha = "f" * 64
            entries.append({"type": "file", "path": p, "oid": "a" * 40, "size": size,
                            "lfs": {"oid": sha, "size": size, "pointerSize": 134}})
        self._send(h, 200, json.dumps(entries).encode(), {"Content-Type": "application/json"}, head)

    def _resolve(self, h, repo, p, head):
        status = self.status.get(repo)
        if status:
            return self._send(h, status, b'{"error": "Access to this repository is restricted"}', head=head)
        if repo in self.token and h.headers.get("Authorization") != "Bearer " + self.token[repo]:
            return self._send(h, 401, b'{"error": "Invalid credentials"}', head=head)
        if repo not in self.repos or p not in self.repos[repo]:
            return self._send(h, 404, b'{"error": "Entry not found"}', head=head)
        local = self.repos[repo][p]
        sha = "f" * 64 if (repo, p) in self.wrong_sha else self.sha(local)
        self._send(h, 302, b"", {"Location": f"/cdn/{repo}/{p}", "X-Repo-Commit": COMMIT,
                                 "X-Linked-Etag": f'"{sha}"',
                                 "X-Linked-Size": str(os.path.getsize(local))}, head)

    def _cdn(self, h, repo, p, head):
        if repo not in self.repos or p not in self.repos[repo]:
            return self._send(h, 404, b"", head=head)
        self._serve_bytes(h, p, self.repos[repo][p], head, {"Accept-Ranges": "bytes"})

    def _serve_bytes(self, h, p, local, head, extra):
        size = os.path.getsize(local)
        rng = h.headers.get("Range")
        if not head:
            with self.lock:
                self.ranges.append((p, rng))
        start, end = 0, size - 1
        status = 200
        headers = dict(extra)
        if rng:
            spec = rng.split("=", 1)[1]
            a, b = spec.split("-", 1)
            start = int(a)
            end = int(b) if b else size - 1
            if start >= size:
                return self._send(h, 416, b"", {"Content-Range": f"bytes */{size}"}, head)
            end = min(end, size - 1)
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        length = end - start + 1
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(length))
        h.end_headers()
        if head:
            return
        limit = length
        with self.lock:
            if self.cut_after is not None and self.cuts_left > 0:
                self.cuts_left -= 1
                limit = min(length, self.cut_after)
        with open(local, "rb") as f:
            f.seek(start)
            left = limit
            while left > 0:
                block = f.read(min(left, 1 << 20))
                if not block:
                    break
                h.wfile.write(block)
                left -= len(block)
        if limit < length:
            # Drop the connection mid-body, as a flaky network does.
            h.wfile.flush()
            h.close_connection = True
            h.connection.shutdown(2)
