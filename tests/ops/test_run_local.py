"""What `make run` (ops/scripts/run-local.sh) prints: where the demo email it queues can be
read in the browser, a URL that works before the reports worker has built it and shows it
after."""

import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from apps.commission.periods import default_period
from apps.commission.services import prepare_report_email, request_report
from tests.support.processes import REPO_DIR

RUN_LOCAL = (REPO_DIR / "ops" / "scripts" / "run-local.sh").read_text()


def printed_url(label: str):
    """The URL run-local.sh prints after `label:`, as a browser asks for it."""
    match = re.search(rf"^\s+{label}:\s+(\S+)", RUN_LOCAL, re.MULTILINE)
    assert match, f"run-local.sh prints no {label}: line"
    return urlsplit(match.group(1).replace("${WEB_PORT}", "8000"))


@pytest.mark.django_db
def test_the_printed_email_url_shows_the_demo_managers_email_once_it_is_built(client):
    url = printed_url("Email")
    queued_for = re.search(r"send_commission_report --manager (\S+)", RUN_LOCAL).group(1)
    call_command("seed_demo", stdout=io.StringIO())
    users = get_user_model().objects
    manager = users.get(username=queued_for)
    # The URL names the manager the script queues the report for.
    assert parse_qs(url.query) == {"to_email": [manager.email]}
    client.force_login(users.get(username="admin"))  # the login run-local.sh prints
    path = f"{url.path}?{url.query}"
    # Before the reports worker has built it: an empty list, not an error.
    assert list(client.get(path).context["cl"].result_list) == []

    # What the reports worker does with the request; another manager's email besides.
    _, delivery = prepare_report_email(manager, default_period())
    prepare_report_email(users.get(username="daniel"), default_period())
    listed = client.get(path)

    assert listed.status_code == 200
    assert list(listed.context["cl"].result_list) == [delivery]
    # A link to its page (which keeps the filter for the way back).
    page = reverse("admin:mailing_emaildelivery_change", args=[delivery.pk])
    assert f'href="{page}?_changelist_filters=' in listed.content.decode()


@pytest.mark.django_db
def test_the_printed_months_url_leads_to_the_month_just_emailed(client):
    url = printed_url("Months")
    call_command("seed_demo", stdout=io.StringIO())
    users = get_user_model().objects
    client.force_login(users.get(username="admin"))
    # What `send_commission_report` records, then the reports worker builds.
    manager = users.get(username="maria")
    period = default_period()
    request_report(manager, period, lambda *args: None, source="command")
    prepare_report_email(manager, period)

    months = client.get(url.path)
    month = reverse("admin_month", args=[str(period)])
    assert months.status_code == 200 and month in months.content.decode()
    assert "1 manager owed a report" in client.get(month).content.decode()
