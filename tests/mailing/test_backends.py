"""The development email backend (apps.mailing.backends): each message one readable INFO
record, nothing on stdout."""

import logging

from django.core.mail import EmailMultiAlternatives

import core.settings


def test_the_development_email_is_one_readable_info_record(caplog, capsys, settings):
    # The development default (the suite itself sends to Django's locmem backend).
    assert core.settings.EMAIL_BACKEND == "apps.mailing.backends.ReadableConsoleBackend"
    settings.EMAIL_BACKEND = core.settings.EMAIL_BACKEND
    message = EmailMultiAlternatives("Report 2025-09", "Hello Maria,\nthe numbers.", to=["m@x.org"])
    message.attach_alternative("<p>Hello</p>" * 50, "text/html")
    message.attach("report.csv", "a,b\n1,2\n", "text/csv")

    with caplog.at_level(logging.INFO, logger="apps.mailing.backends"):
        assert message.send() == 1

    (record,) = [r for r in caplog.records if r.name == "apps.mailing.backends"]
    assert record.levelno == logging.INFO
    text = record.getMessage()
    assert "Subject: Report 2025-09" in text and "Hello Maria,\nthe numbers." in text
    assert "[alternative text/html: 600 characters]" in text
    assert "[attachment report.csv (text/csv): 8 characters]" in text
    assert "Content-Transfer-Encoding" not in text  # no raw MIME
    assert capsys.readouterr().out == ""  # nothing on stdout for Celery to re-log as WARNING
