"""A JSON-RPC endpoint that misbehaves on cue, as rate-limited, overloaded or broken providers do.

Each request takes the next answer of `script` (the last one repeats): "ok" (a JSON-RPC answer;
`eth_blockNumber` is 0x10, every other method null), "429" (Too Many Requests, Retry-After 0),
"503" (Service Unavailable), "garbage" (200 with a body that is no JSON), "limit" (a JSON-RPC
error -32005, "limit exceeded") and "stall" (no answer for `stall_seconds`). With `upstream`
(a real node's URL), "ok" forwards the request there and answers what it answers: a working
node that fails on cue. `script` may be replaced while the stub runs.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class StubNode:
    """`with StubNode(["429"]) as node: ... node.url ... node.requests`."""

    def __init__(
        self, script: list[str], *, stall_seconds: float = 5.0, upstream: str | None = None
    ) -> None:
        self.script = list(script)
        self.upstream = upstream
        self.stall_seconds = stall_seconds
        self.requests = 0
        self._lock = threading.Lock()
        self._released = threading.Event()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                self._answer(stub.next_answer(), raw)

            def _answer(self, kind: str, raw: bytes) -> None:
                body = json.loads(raw)
                if kind == "stall":
                    stub._released.wait(stub.stall_seconds)
                    return
                if kind in ("429", "503"):
                    self.send_response(int(kind))
                    self.send_header("Retry-After", "0")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if kind == "garbage":
                    payload = b"<html>bad gateway</html>"
                elif kind == "ok" and stub.upstream is not None:
                    payload = _forward(stub.upstream, raw)
                else:
                    answers = [_answer(kind, request) for request in _as_list(body)]
                    payload = json.dumps(answers if isinstance(body, list) else answers[0]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def next_answer(self) -> str:
        with self._lock:
            self.requests += 1
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    def __enter__(self) -> StubNode:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()
        time.sleep(0)  # let the handler threads see the release


def _forward(url: str, raw: bytes) -> bytes:
    request = urllib.request.Request(url, data=raw, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: bytes = response.read()
        return answer


def _as_list(body: Any) -> list[dict[str, Any]]:
    return body if isinstance(body, list) else [body]


def _answer(kind: str, request: dict[str, Any]) -> dict[str, Any]:
    base = {"jsonrpc": "2.0", "id": request.get("id")}
    if kind == "limit":
        return {**base, "error": {"code": -32005, "message": "limit exceeded"}}
    result = "0x10" if request.get("method") == "eth_blockNumber" else None
    return {**base, "result": result}
