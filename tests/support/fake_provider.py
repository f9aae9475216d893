"""A local HTTP server that plays Postmark's send API, for Anymail's real Postmark backend.

Workers reach it through POSTMARK_API_URL in their environment. Each test scripts
the replies to the next requests (503, 429, 422 with Postmark's error JSON, or a
hang longer than the client's timeout); after the script, every request succeeds,
after `latency` seconds as a real API answers, or gets a 429 with Retry-After when it
is over `rate_limit` requests in the last second, as a provider's rate limit answers.
https://postmarkapp.com/developer/api/email-api

Optionally (`tracking_url`), it also plays Postmark's delivery webhook: shortly after
accepting a message it POSTs a "Delivery" event for it to that URL, from a background
thread, trying again while the web server does not answer 2xx.
https://postmarkapp.com/developer/webhooks/delivery-webhook
A test makes it post other events, as Postmark does, with `post_event` (bounces and spam
complaints: `bounce_event`, https://postmarkapp.com/developer/webhooks/bounce-webhook),
and answers a send to an address it deactivated as Postmark does (`inactive_recipient`).
"""

import collections
import contextlib
import datetime as dt
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from email.utils import getaddresses
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

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
    headers: tuple[tuple[str, str], ...] = ()  # sent besides Content-Type and -Length

    @property
    def accepts(self) -> bool:
        return self.status == 200


def postmark_error(status: int, error_code: int, message: str, delay: float = 0.0) -> Reply:
    """An error answer in Postmark's format (ErrorCode and Message)."""
    return Reply(status, {"ErrorCode": error_code, "Message": message}, delay)


def too_many_requests(retry_after: str | None = "1", delay: float = 0.0) -> Reply:
    """Postmark's 429, with a Retry-After header unless `retry_after` is None."""
    reply = postmark_error(429, 0, "Rate limit exceeded", delay)
    headers = (("Retry-After", retry_after),) if retry_after is not None else ()
    return Reply(reply.status, reply.body, delay, headers)


def busiest_second(times: list[float]) -> int:
    """The most of `times` (seconds, sorted or not) that fall within any one second."""
    times = sorted(times)
    most, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


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
    at: float = field(default_factory=time.monotonic)  # when it arrived
    client: tuple[str, int] | None = None  # the sender's (host, port)
    answered_at: float | None = None  # when the answer went out (or the client was gone)

    @property
    def recipient(self) -> str:
        """The first address in To, without a display name."""
        addresses = getaddresses([str(self.json.get("To", ""))])
        return addresses[0][1] if addresses else ""

    def delivery_event(self) -> dict:
        """Postmark's Delivery webhook body for this (accepted) message."""
        return {
            "RecordType": "Delivery",
            "ServerID": 1,
            "MessageStream": self.json.get("MessageStream", "outbound"),
            "MessageID": self.message_id,
            "Recipient": self.recipient,
            "Tag": self.json.get("Tag", ""),
            "DeliveredAt": dt.datetime.now(dt.UTC).isoformat(),
            "Details": "Test",
            "Metadata": self.json.get("Metadata", {}),
        }


# Postmark's bounce "Type"s: (TypeCode, Name, Description), as its bounce API lists them.
BOUNCE_TYPES = {
    "HardBounce": (
        1,
        "Hard bounce",
        "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
    ),
    "Transient": (
        2,
        "Message delayed",
        "The server could not temporarily deliver your message (ex: Message is delayed due to "
        "network troubles).",
    ),
    "SoftBounce": (
        4096,
        "Soft bounce",
        "Unable to temporarily deliver message (i.e. mailbox full, account disabled, exceeds "
        "quota, out of disk space).",
    ),
    "SpamComplaint": (
        512,
        "Spam complaint",
        "The subscriber explicitly marked this message as spam.",
    ),
}


def bounce_event(
    message_id: str,
    email: str,
    bounce_type: str = "HardBounce",
    metadata: dict | None = None,
    details: str = "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
) -> dict:
    """Postmark's Bounce webhook body (RecordType "SpamComplaint" for a spam complaint,
    which comes in the same shape)."""
    code, name, description = BOUNCE_TYPES[bounce_type]
    return {
        "RecordType": "SpamComplaint" if bounce_type == "SpamComplaint" else "Bounce",
        "MessageStream": "outbound",
        "ID": 4323372036854775807,
        "Type": bounce_type,
        "TypeCode": code,
        "Name": name,
        "Tag": "commission-report",
        "MessageID": message_id,
        "Metadata": metadata or {},
        "ServerID": 23,
        "Description": description,
        "Details": details,
        "Email": email,
        "From": "reports@example.com",
        "BouncedAt": dt.datetime.now(dt.UTC).isoformat(),
        "DumpAvailable": True,
        "Inactive": bounce_type in {"HardBounce", "SpamComplaint"},
        "CanActivate": True,
        "Subject": "Commission report",
        "Content": "<Full dump of bounce>",
    }


def inactive_recipient(email: str) -> Reply:
    """Postmark's answer to a send to an address it has deactivated (a hard bounce or a
    spam complaint before): 422 with ErrorCode 406, which Anymail raises as
    AnymailRecipientsRefused."""
    return postmark_error(
        422,
        406,
        "You tried to send to a recipient that has been marked as inactive.\n"
        f"Found inactive addresses: {email}.\n"
        "Inactive recipients are ones that have generated a hard bounce or a spam complaint. ",
    )


@dataclass
class WebhookPost:
    """One delivery webhook the stand-in posted (or gave up posting)."""

    message_id: str
    delivered: bool
    tries: int
    last_answer: str


@dataclass
class FakePostmark:
    """Thread-safe record of what arrived and what was accepted."""

    received: list[Received] = field(default_factory=list)
    _script: list[Reply] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _release: threading.Event = field(default_factory=threading.Event)
    url: str = ""
    # Delivery webhooks: off unless set, e.g. "http://user:pass@127.0.0.1:8000/anymail/
    # postmark/tracking/" (basic auth from the URL, as Postmark's webhook settings do).
    tracking_url: str = ""
    tracking_delay: float = 1.0  # seconds between accepting a message and its webhook
    tracking_tries: int = 10  # attempts per webhook, 0.5 s apart doubling up to 5 s
    webhooks: list[WebhookPost] = field(default_factory=list)
    # Unscripted requests: seconds before the answer (a real API takes 0.1-0.3 s), and
    # how many may be accepted within one second before the rest get a 429 (0: no
    # limit); a refused request uses up nothing, as with a provider's token bucket.
    latency: float = 0.0
    rate_limit: int = 0
    _last_second: collections.deque = field(default_factory=collections.deque)
    _stop_webhooks: threading.Event = field(default_factory=threading.Event)

    def worker_env(self) -> dict[str, str]:
        """Settings, as environment variables, for an email worker that sends here."""
        return {
            "EMAIL_BACKEND": "anymail.backends.postmark.EmailBackend",
            "POSTMARK_SERVER_TOKEN": SERVER_TOKEN,
            "POSTMARK_API_URL": self.url,
            "ANYMAIL_REQUESTS_TIMEOUT": str(REQUESTS_TIMEOUT),
        }

    def send_here(self, settings) -> None:
        """Point this process's Django settings (pytest-django's `settings`) at it."""
        settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
        settings.ANYMAIL = {
            "POSTMARK_SERVER_TOKEN": SERVER_TOKEN,
            "POSTMARK_API_URL": self.url,
            "REQUESTS_TIMEOUT": REQUESTS_TIMEOUT,
        }

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order."""
        with self._lock:
            self._script = list(replies)

    def script_more(self, *replies: Reply) -> None:
        """Answer the requests after those already scripted with these replies."""
        with self._lock:
            self._script.extend(replies)

    def scripted(self) -> int:
        """How many scripted replies are still to come."""
        with self._lock:
            return len(self._script)

    def reset(self) -> None:
        """Forget everything, let any hanging reply go and drop webhooks not yet posted."""
        self._release.set()
        self._stop_webhooks.set()
        with self._lock:
            self._script = []
            self.received = []
            self._last_second.clear()
            self.webhooks = []
            self._release = threading.Event()
            self._stop_webhooks = threading.Event()

    @property
    def accepted(self) -> list[Received]:
        with self._lock:
            return [request for request in self.received if request.message_id]

    def requests(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def in_flight(self) -> list[Received]:
        """Requests still waiting for their answer (a scripted delay)."""
        with self._lock:
            return [request for request in self.received if request.answered_at is None]

    def _take(
        self,
        path: str,
        headers: dict[str, str],
        body: dict,
        client: tuple[str, int] | None = None,
    ) -> tuple[Received, Reply, threading.Event]:
        with self._lock:
            now = time.monotonic()
            while self._last_second and now - self._last_second[0] >= 1.0:
                self._last_second.popleft()
            reply = self._script.pop(0) if self._script else self._unscripted_reply()
            if reply.accepts:
                self._last_second.append(now)
            request = Received(path, headers, body, reply, client=client)
            if reply.accepts:
                request.message_id = str(uuid.uuid4())
            self.received.append(request)
            if request.message_id and self.tracking_url:
                self._post_delivery_later(request, self.tracking_url, self._stop_webhooks)
            return request, reply, self._release

    def _unscripted_reply(self) -> Reply:
        """Success after `latency`, or a 429 over `rate_limit` (the caller holds the lock)."""
        if self.rate_limit and len(self._last_second) >= self.rate_limit:
            return too_many_requests("1", self.latency)
        return Reply(delay=self.latency)

    def too_many(self) -> list[Received]:
        """The requests answered 429."""
        with self._lock:
            return [request for request in self.received if request.reply.status == 429]

    @staticmethod
    def post_event(url: str, event: dict) -> "requests.Response":
        """POST one webhook event to `url` now, as Postmark does (basic auth from the URL,
        as for `tracking_url`); the web server's answer."""
        return requests.post(url, json=event, timeout=10)

    def _post_delivery_later(self, request: Received, url: str, stop: threading.Event) -> None:
        """POST the message's Delivery webhook after `tracking_delay`, from a thread,
        trying again on no answer or a non-2xx one; `reset()` cancels it."""
        event = request.delivery_event()

        def post() -> None:
            if stop.wait(self.tracking_delay):
                return
            pause, answer = 0.5, ""
            for attempt in range(1, self.tracking_tries + 1):
                try:
                    response = requests.post(url, json=event, timeout=5)
                    answer = f"HTTP {response.status_code}"
                    if response.ok:
                        self._record_webhook(WebhookPost(request.message_id, True, attempt, answer))
                        return
                except requests.RequestException as exc:
                    answer = f"{type(exc).__name__}: {exc}"
                if attempt == self.tracking_tries or stop.wait(pause):
                    break
                pause = min(pause * 2, 5.0)
            self._record_webhook(WebhookPost(request.message_id, False, attempt, answer))

        threading.Thread(target=post, name="fake-postmark-webhook", daemon=True).start()

    def _record_webhook(self, post: WebhookPost) -> None:
        with self._lock:
            self.webhooks.append(post)


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        raw = self.rfile.read(length)
        if len(raw) < length:
            # The client went away before its body arrived (a sender killed mid send):
            # nothing was submitted, so nothing is accepted, as at the real API.
            self.close_connection = True
            return
        body = json.loads(raw or b"{}")
        request, reply, release = self.server.fake._take(
            self.path, dict(self.headers), body, client=self.client_address[:2]
        )
        try:
            self._answer(request, reply, release, body)
        finally:
            request.answered_at = time.monotonic()

    def _answer(self, request: Received, reply: Reply, release: threading.Event, body: dict):
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
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

    def log_message(self, format, *args):
        pass  # the test output stays readable; `received` has it all


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakePostmark


class _KeepAliveHandler(_Handler):
    # HTTP/1.1: a client may send many messages over one connection, as it can to
    # the real API (every answer carries its Content-Length).
    protocol_version = "HTTP/1.1"
    # The answer leaves in two writes (headers, body); with Nagle on, the second waits
    # for the client's delayed ACK, 40 ms per request on a kept connection.
    disable_nagle_algorithm = True


@contextlib.contextmanager
def running_fake_postmark(*, keep_alive: bool = False):
    """A FakePostmark listening on a free local port for the duration of the block;
    with `keep_alive`, it keeps connections open between requests."""
    server = _Server(("127.0.0.1", 0), _KeepAliveHandler if keep_alive else _Handler)
    server.fake = FakePostmark(url=f"http://127.0.0.1:{server.server_port}/")
    with serving(server, "fake-postmark"):
        try:
            yield server.fake
        finally:
            server.fake.reset()
