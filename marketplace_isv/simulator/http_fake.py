"""The HTTP server under the simulator's fakes (open API, OneAccess): a threaded server on
127.0.0.1 that hands every request to `handle(method, path, headers, body)` and sends back
`(status, payload, extra headers)` — JSON unless the payload is bytes."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

logger = logging.getLogger(__name__)

Handle = Callable[[str, str, dict[str, str], bytes], tuple[int, object, dict[str, str]]]


def serve(handle: Handle, *, host: str, port: int, name: str, error_payload: dict) -> ThreadingHTTPServer:
    """Start serving in a daemon thread; the caller stops it with `stop(server)`."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                status, payload, extra = handle(self.command, self.path, headers, body)
            except Exception:  # a fake must not die on a bad request
                logger.exception("%s.error", name)
                status, payload, extra = 500, error_payload, {}
            extra = dict(extra)
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", extra.pop("Content-Type", "application/json;charset=UTF-8"))
            for header, value in extra.items():
                self.send_header(header, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, fmt, *args) -> None:
            logger.debug(name + " " + fmt, *args)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name=name, daemon=True).start()
    return server


def stop(server: ThreadingHTTPServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()
