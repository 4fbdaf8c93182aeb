# A stand-in for an OpenAI-compatible server that misbehaves on purpose, for the load
# generator's tests (test_bench_serve.py): stdlib http.server on a thread, on a free loopback
# port. Each POST gets a behaviour from `plan(n)` (n: the request's arrival number, from 0),
# and the server counts what it actually did, so a test compares the load generator's report
# with the truth rather than with an assumption about arrival order.
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GOOD = "good"                  # a correct stream: text chunks, finish_reason, usage, [DONE]
HTTP_429 = "http_429"          # 429 with an OpenAI error body
HTTP_500 = "http_500"          # 500 with an OpenAI error body
CLOSED = "closed_mid_stream"   # 200, one text chunk, then the connection is dropped
GARBAGE = "bad_response"       # 200, an SSE event whose data is not JSON, then [DONE]
HANG = "timeout"               # 200, one text chunk, then silence for HANG_SECONDS
HANG_SECONDS = 30

RATE_LIMIT_MESSAGE = "Rate limit reached for requests (fake server)"
SERVER_ERROR_MESSAGE = "The fake server always fails"
GOOD_TOKENS = ["Hello", ",", " world", "!"]


class FakeOpenAIServer:
    def __init__(self, plan):
        self.plan = plan
        self.lock = threading.Lock()
        self.arrivals = 0
        self.done = {}       # behaviour -> how many requests got it
        self.bodies = []     # the parsed request bodies, in arrival order
        self.paths = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                body = json.dumps({"object": "list", "data": [{"id": "fake", "object": "model"}]})
                self._send_json(200, body)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                with outer.lock:
                    n = outer.arrivals
                    outer.arrivals += 1
                    outer.paths.append(self.path)
                    try:
                        outer.bodies.append(json.loads(raw))
                    except ValueError:
                        outer.bodies.append(None)
                behaviour = outer.plan(n)
                with outer.lock:
                    outer.done[behaviour] = outer.done.get(behaviour, 0) + 1
                chat = self.path.endswith("/chat/completions")
                if behaviour in (HTTP_429, HTTP_500):
                    status = 429 if behaviour == HTTP_429 else 500
                    message = RATE_LIMIT_MESSAGE if status == 429 else SERVER_ERROR_MESSAGE
                    err = {"error": {"message": message, "type": "rate_limit_exceeded"
                                     if status == 429 else "server_error",
                                     "param": None, "code": None}}
                    self._send_json(status, json.dumps(err), close=True)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Connection", "close")
                self.end_headers()
                if behaviour == CLOSED:
                    self._event(self._chunk(chat, "Hello", None))
                    self.wfile.flush()
                    # Drop the connection without the terminating chunk or [DONE].
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if behaviour == HANG:
                    self._event(self._chunk(chat, "Hello", None))
                    time.sleep(HANG_SECONDS)
                    self.close_connection = True
                    return
                if behaviour == GARBAGE:
                    self._write_chunk(b"data: {this is not json at all\n\n")
                    self._event("[DONE]")
                    self._write_chunk(b"")
                    return
                for tok in GOOD_TOKENS:
                    self._event(self._chunk(chat, tok, None))
                self._event(self._chunk(chat, "", "stop"))
                self._event(json.dumps({"id": "x", "object": "chat.completion.chunk" if chat
                                        else "text_completion", "model": "fake", "choices": [],
                                        "usage": {"prompt_tokens": 7,
                                                  "completion_tokens": len(GOOD_TOKENS),
                                                  "total_tokens": 7 + len(GOOD_TOKENS)}}))
                self._event("[DONE]")
                self._write_chunk(b"")

            def _chunk(self, chat, text, finish):
                if chat:
                    choice = {"index": 0, "delta": {"content": text} if text else {},
                              "finish_reason": finish}
                    obj = "chat.completion.chunk"
                else:
                    choice = {"index": 0, "text": text, "finish_reason": finish}
                    obj = "text_completion"
                return json.dumps({"id": "x", "object": obj, "model": "fake",
                                   "choices": [choice]})

            def _event(self, data):
                self._write_chunk(f"data: {data}\n\n".encode())

            def _write_chunk(self, payload):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
                self.wfile.flush()

            def _send_json(self, status, body, close=False):
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if close:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(data)

        class QuietServer(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # the dropped connections are deliberate

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)
