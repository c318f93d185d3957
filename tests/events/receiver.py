"""A real HTTP receiver on 127.0.0.1 for webhook tests: answers by a script (ok, fail, timeout)
and records every request, headers and raw body."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """`script`: what to answer to each request in turn (`ok` 200, `fail` 500, `timeout`: hold
    the answer for `hold_s`); after the script, `default`. `delay_s` slows every answer."""

    def __init__(
        self,
        script: list[str] | None = None,
        *,
        default: str = "ok",
        hold_s: float = 2.0,
        delay_s: float = 0.0,
    ) -> None:
        self.script: deque[str] = deque(script or [])
        self.default = default
        self.hold_s = hold_s
        self.delay_s = delay_s
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver.received.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    action = receiver.script.popleft() if receiver.script else receiver.default
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                if action == "timeout":
                    time.sleep(receiver.hold_s)
                status = 500 if action == "fail" else 200
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up waiting

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
