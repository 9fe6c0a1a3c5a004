"""A recording HTTP server on 127.0.0.1 for contract tests: it answers what a test scripts, keeps every request.

The contract tests pin what our clients send and read against the vendors' published contracts
(shared/vendor-apis.md), not against the sandbox: the sandbox and the clients were written
together, so they would agree with each other even where both were wrong.

    with Recorder() as rec:
        rec.on("GET", "/v4/single/check", Reply(200, {"status": "success", ...}))
        NeverBounceClient(rec.url, "secret_x", limits=None).check("a@b.co")
        [req] = rec.requests   # method, path, query, headers, body
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    """One scripted answer: status, body (dict/list -> JSON, str/bytes as is), headers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None

    def encode(self) -> tuple[bytes, str]:
        if self.body is None:
            return b"", self.content_type or "application/json"
        if isinstance(self.body, bytes):
            return self.body, self.content_type or "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode("utf-8"), self.content_type or "text/plain; charset=utf-8"
        return json.dumps(self.body).encode("utf-8"), self.content_type or "application/json;charset=utf-8"


@dataclass
class Recorded:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8"), keep_blank_values=True).items()}

    def params(self) -> dict[str, str]:
        return {k: v[0] for k, v in self.query.items()}


class Recorder:
    """A loopback HTTP server answering scripted replies per (method, path); unknown routes answer 599."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._replies: dict[tuple[str, str], deque[Reply]] = defaultdict(deque)
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                req = Recorded(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                               {k.lower(): v for k, v in self.headers.items()}, body)
                reply = recorder._take(req)
                data, content_type = reply.encode()
                self.send_response(reply.status)
                if reply.status not in (204, 304):
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if data:
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def on(self, method: str, path: str, *replies: Reply) -> None:
        """Queue replies for (method, path); the last one repeats once the others are used."""
        with self._lock:
            self._replies[(method, path)].extend(replies)

    def _take(self, req: Recorded) -> Reply:
        with self._lock:
            self.requests.append(req)
            queue = self._replies.get((req.method, req.path))
            if not queue:
                return Reply(599, {"error": f"no reply scripted for {req.method} {req.path}"})
            return queue.popleft() if len(queue) > 1 else queue[0]

    def __enter__(self) -> Recorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
