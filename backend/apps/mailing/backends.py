"""An email backend for development: each email as one readable log record.

Django's console backend writes the raw MIME message (headers, then the HTML and CSV as
base64 or quoted-printable) to stdout, which a Celery worker re-logs line by line as
WARNING `celery.redirected`. This one logs, at INFO, what a developer reads:
sender, recipients, subject, the plain-text body, and what else is attached.
"""

import logging

from django.core.mail.backends.base import BaseEmailBackend

logger = logging.getLogger(__name__)


class ReadableConsoleBackend(BaseEmailBackend):
    def send_messages(self, email_messages) -> int:
        for message in email_messages:
            logger.info("Email (not sent: console backend)\n%s", describe(message))
        return len(email_messages)


def describe(message) -> str:
    lines = [
        f"From: {message.from_email}",
        f"To: {', '.join(message.to)}",
        f"Subject: {message.subject}",
    ]
    if message.reply_to:
        lines.append(f"Reply-To: {', '.join(message.reply_to)}")
    lines += ["", message.body.rstrip(), ""]
    for content, mimetype in getattr(message, "alternatives", []):
        lines.append(f"[alternative {mimetype}: {len(content)} characters]")
    for attachment in message.attachments:
        filename, content, mimetype = attachment
        lines.append(f"[attachment {filename} ({mimetype}): {len(content)} characters]")
    return "\n".join(lines)
