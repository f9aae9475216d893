"""A small SMTP server for tests: it accepts messages, or fails them as it is told.

Workers reach it through Django's real SMTP backend (EMAIL_BACKEND=...smtp.EmailBackend,
EMAIL_HOST/EMAIL_PORT). A failure is an error answer to the message data, "451 try
again later" by default: smtplib raises SMTPDataError with that code, which the mailing
app treats as transient (4xx) or permanent (5xx), as it would a real server's answer.
"""

import contextlib
import socketserver
import threading
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message

from tests.support.servers import serving


@dataclass
class Received:
    recipients: list[str]
    message: Message


class FakeSMTP:
    def __init__(self, port: int = 0):
        self.received: list[Received] = []
        self.refused: list[list[str]] = []
        self._failures: dict[str, tuple[int | None, int]] = {}
        self._lock = threading.Lock()
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._serving = contextlib.ExitStack()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def worker_env(self) -> dict[str, str]:
        """Settings that make a worker send its email here."""
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(self.port),
            "EMAIL_TIMEOUT": "5",
        }

    def __enter__(self) -> "FakeSMTP":
        self._serving.enter_context(serving(self._server, "fake-smtp"))
        return self

    def __exit__(self, *exc) -> None:
        self._serving.close()

    def fail(self, recipient: str, times: int | None = None, code: int = 451) -> None:
        """Refuse messages to `recipient` with `code`: the next `times` ones, or all (None)."""
        with self._lock:
            self._failures[recipient.lower()] = (times, code)

    def recover(self, recipient: str) -> None:
        with self._lock:
            self._failures.pop(recipient.lower(), None)

    def messages_to(self, recipient: str) -> list[Message]:
        with self._lock:
            return [r.message for r in self.received if recipient.lower() in r.recipients]

    def _failure_code(self, recipients: list[str]) -> int | None:
        with self._lock:
            for recipient in recipients:
                left, code = self._failures.get(recipient, (0, 0))
                if left is None:
                    return code
                if left > 0:
                    self._failures[recipient] = (left - 1, code)
                    return code
            return None

    def _deliver(self, recipients: list[str], data: bytes) -> int | None:
        """None if accepted, else the error code to answer with."""
        code = self._failure_code(recipients)
        with self._lock:
            if code is None:
                self.received.append(Received(recipients, message_from_bytes(data)))
            else:
                self.refused.append(recipients)
        return code

    def _handler(self):
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self):
                self.reply("220 fake-smtp ready")
                recipients: list[str] = []
                while line := self.rfile.readline():
                    command = line.decode(errors="replace").strip()
                    verb = command.split(" ", 1)[0].upper()
                    if verb in {"EHLO", "HELO"}:
                        self.reply("250 fake-smtp")
                    elif verb == "MAIL":
                        recipients = []
                        self.reply("250 OK")
                    elif verb == "RCPT":
                        recipients.append(command.split(":", 1)[1].strip(" <>").lower())
                        self.reply("250 OK")
                    elif verb == "DATA":
                        self.reply("354 end with <CRLF>.<CRLF>")
                        data = self._read_data()
                        code = fake._deliver(recipients, data)
                        if code is None:
                            self.reply("250 OK queued")
                        else:
                            self.reply(f"{code} refused by the fake server")
                    elif verb in {"RSET", "NOOP"}:
                        self.reply("250 OK")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("502 not implemented")

            def _read_data(self) -> bytes:
                lines = []
                while (line := self.rfile.readline()) and line.rstrip(b"\r\n") != b".":
                    # Undo SMTP dot-stuffing.
                    lines.append(line[1:] if line.startswith(b"..") else line)
                return b"".join(lines)

        return Handler
