"""Reading what Django's file-based email backend wrote in another process."""

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path


class Mailbox:
    def __init__(self, path: Path):
        self.path = path

    def clear(self) -> None:
        for file in self.path.glob("*.log"):
            file.unlink()

    def messages(self) -> list[EmailMessage]:
        """Every message in the folder, oldest file first."""
        found = []
        for file in sorted(self.path.glob("*.log"), key=lambda f: f.stat().st_mtime_ns):
            # The backend separates messages in one file with a line of 79 dashes.
            for chunk in file.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
                if chunk.strip():
                    found.append(email.message_from_bytes(chunk, policy=email.policy.default))
        return found


def text_body(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html_body(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("html",)).get_content()
