"""A local HTTP server that plays Postmark's send API, for Anymail's real Postmark backend.

Workers reach it through POSTMARK_API_URL in their environment. Each test scripts
the replies to the next requests (503, 429, 422 with Postmark's error JSON, or a
hang longer than the client's timeout); after the script, every request succeeds.
https://postmarkapp.com/developer/api/email-api
"""

import contextlib
import datetime as dt
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.servers import serving

SERVER_TOKEN = "test-postmark-server-token"
# Seconds Anymail waits for an answer in the test workers; a Reply with a longer
# delay is a timeout.
REQUESTS_TIMEOUT = 1


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: dict | None = None  # None: Postmark's success answer, with a new MessageID
    delay: float = 0.0  # seconds before answering

    @property
    def accepts(self) -> bool:
        return self.status == 200


def postmark_error(status: int, error_code: int, message: str, delay: float = 0.0) -> Reply:
    """An error answer in Postmark's format (ErrorCode and Message)."""
    return Reply(status, {"ErrorCode": error_code, "Message": message}, delay)


def hang(seconds: float = REQUESTS_TIMEOUT * 3) -> Reply:
    """Answer nothing until long after the client gave up (then fail, accepting nothing)."""
    return postmark_error(503, 0, "Service unavailable", delay=seconds)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    json: dict
    reply: Reply
    message_id: str = ""  # set when the reply accepted the message


@dataclass
class FakePostmark:
    """Thread-safe record of what arrived and what was accepted."""

    received: list[Received] = field(default_factory=list)
    _script: list[Reply] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _release: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def worker_env(self) -> dict[str, str]:
        """Settings, as environment variables, for an email worker that sends here."""
        return {
            "EMAIL_BACKEND": "anymail.backends.postmark.EmailBackend",
            "POSTMARK_SERVER_TOKEN": SERVER_TOKEN,
            "POSTMARK_API_URL": self.url,
            "ANYMAIL_REQUESTS_TIMEOUT": str(REQUESTS_TIMEOUT),
        }

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order."""
        with self._lock:
            self._script = list(replies)

    def reset(self) -> None:
        """Forget everything and let any hanging reply go."""
        self._release.set()
        with self._lock:
            self._script = []
            self.received = []
            self._release = threading.Event()

    @property
    def accepted(self) -> list[Received]:
        with self._lock:
            return [request for request in self.received if request.message_id]

    def requests(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def _take(
        self, path: str, headers: dict[str, str], body: dict
    ) -> tuple[Received, Reply, threading.Event]:
        with self._lock:
            reply = self._script.pop(0) if self._script else Reply()
            request = Received(path, headers, body, reply)
            if reply.accepts:
                request.message_id = str(uuid.uuid4())
            self.received.append(request)
            return request, reply, self._release


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        request, reply, release = self.server.fake._take(self.path, dict(self.headers), body)
        if reply.delay:
            release.wait(reply.delay)
        answer = reply.body
        if answer is None:
            answer = {
                "To": body.get("To", ""),
                "SubmittedAt": dt.datetime.now(dt.UTC).isoformat(),
                "MessageID": request.message_id,
                "ErrorCode": 0,
                "Message": "OK",
            }
        payload = json.dumps(answer).encode()
        # The client may have given up (a timeout): nothing left to tell it.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    def log_message(self, format, *args):
        pass  # the test output stays readable; `received` has it all


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakePostmark


@contextlib.contextmanager
def running_fake_postmark():
    """A FakePostmark listening on a free local port for the duration of the block."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = FakePostmark(url=f"http://127.0.0.1:{server.server_port}/")
    with serving(server, "fake-postmark"):
        try:
            yield server.fake
        finally:
            server.fake.reset()
