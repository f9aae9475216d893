"""A local HTTP server that plays Sentry: it accepts SDK envelopes and keeps their items.

Point a process at it with SENTRY_DSN=server.dsn; the SDK posts envelopes to
/api/<project>/envelope/, gzip-compressed, one JSON header line per item.
"""

import contextlib
import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.servers import serving


class FakeSentry:
    def __init__(self):
        self._items: list[tuple[str, dict]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._serving = contextlib.ExitStack()

    @property
    def dsn(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://public@{host}:{port}/1"

    def __enter__(self) -> "FakeSentry":
        self._serving.enter_context(serving(self._server, "fake-sentry"))
        return self

    def __exit__(self, *exc) -> None:
        self._serving.close()

    def events(self) -> list[dict]:
        """Error events received so far (not transactions, sessions or client reports)."""
        with self._lock:
            return [payload for kind, payload in self._items if kind == "event"]

    def events_for_task(self, task_id: str) -> list[dict]:
        return [e for e in self.events() if e.get("tags", {}).get("celery_task_id") == task_id]

    def _record(self, body: bytes) -> None:
        with self._lock:
            self._items.extend(parse_envelope(body))

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "br":
                    # The SDK only uses brotli when the module is installed.
                    import brotli

                    body = brotli.decompress(body)
                fake._record(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        return Handler


def parse_envelope(body: bytes) -> list[tuple[str, dict]]:
    """[(item type, payload)] of an envelope: a header line, then per item a header line
    and a payload of `length` bytes (or up to the next newline)."""
    _, _, rest = body.partition(b"\n")
    items = []
    while rest.strip():
        header_line, _, rest = rest.partition(b"\n")
        header = json.loads(header_line)
        if "length" in header:
            payload, rest = rest[: header["length"]], rest[header["length"] + 1 :]
        else:
            payload, _, rest = rest.partition(b"\n")
        try:
            items.append((header.get("type", ""), json.loads(payload)))
        except ValueError:
            items.append((header.get("type", ""), {}))
    return items
