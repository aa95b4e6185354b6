"""Identity-provider stand-ins on 127.0.0.1: a JWKS endpoint the test publishes keys to, and one that stalls.

Each is a ThreadingHTTPServer in a daemon thread for the duration of a `with` block.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


class LoopbackHttp:
    """`handler` served at http://127.0.0.1:<free port>/jwks.json while the `with` block runs."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/jwks.json"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


class JwksServer(LoopbackHttp):
    """Serves whatever `body` currently holds at /jwks.json and counts the fetches."""

    def __init__(self) -> None:
        self.body: bytes = b'{"keys": []}'
        self.status = 200
        self.hits = 0
        self._lock = threading.Lock()
        server = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                with server._lock:
                    server.hits += 1
                    status, body = server.status, server.body
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Handler)

    def publish(self, *entries: dict[str, Any]) -> None:
        with self._lock:
            self.body = json.dumps({"keys": list(entries)}).encode()


class DrippingJwks(LoopbackHttp):
    """A JWKS endpoint that answers 200 and then sends its body one byte every `interval` seconds."""

    def __init__(self, interval: float = 0.5) -> None:
        self.stop = threading.Event()
        owner = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                try:
                    while not owner.stop.wait(interval):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                except OSError:
                    pass

        super().__init__(Handler)

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        super().__exit__(*exc)
