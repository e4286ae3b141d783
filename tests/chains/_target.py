"""The outside world of chain tests: a scriptable HTTP endpoint on loopback, in a thread of its own.

Each path answers from its script (status, JSON body, delay in seconds), one entry per request, then its
default. Every request body is kept, per path, in arrival order, so a test counts provider calls."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Reply", "Target"]

Reply = tuple[int, Any, float]  # status, JSON body, seconds to wait before answering


class Target:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bodies: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._scripts: dict[str, list[Reply]] = defaultdict(list)
        self._defaults: dict[str, Reply] = {}
        target = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                status, reply, delay = target._take(self.path, body)
                if delay:
                    time.sleep(delay)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="chain-target", daemon=True)

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def answer(self, path: str, *replies: Reply, default: Reply | None = None) -> None:
        with self._lock:
            self._scripts[path] = list(replies)
            if default is not None:
                self._defaults[path] = default

    def received(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._bodies[path])

    def _take(self, path: str, body: dict[str, Any]) -> Reply:
        with self._lock:
            self._bodies[path].append(body)
            script = self._scripts[path]
            if script:
                return script.pop(0)
            return self._defaults.get(path, (200, {"ok": True}, 0.0))

    def start(self) -> Target:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
