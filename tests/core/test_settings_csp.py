"""The Content-Security-Policy (core/settings.py) on every response, and no page of the
project's admin with inline code it would make the browser drop."""

import re

import pytest
from django.contrib import admin
from django.urls import reverse

from tests.factories import TeamFactory, add_rep

pytestmark = pytest.mark.django_db

# What Content-Security-Policy (core/settings.py) makes the browser refuse: a script
# element with a body, a style element or attribute, an inline event handler.
INLINE_CODE = re.compile(
    r"<script(?![^>]*\ssrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=", re.IGNORECASE
)


def inline_code(response) -> list[str]:
    return INLINE_CODE.findall(response.content.decode())


@pytest.fixture
def team():
    """A team with a deal, its report built and its email recorded, and a report request:
    a row for every model of ours, so that every change page renders too."""
    from apps.commission.periods import Period
    from apps.commission.services import prepare_report_email, record_deal, request_report

    team = TeamFactory(name="North")
    rep = add_rep(team)
    closed_on = team.created_at.date()
    record_deal(rep=rep, amount="100", closed_on=closed_on, external_ref="ADM-1")
    period = Period.containing(closed_on)
    prepare_report_email(team.manager, period)
    request_report(team.manager, period, lambda *args: None, source="admin")
    from apps.mailing.models import UndeliverableAddress

    UndeliverableAddress.objects.create(email="gone@example.com", reason="bounced")
    return team


@pytest.mark.parametrize(
    "model",
    [m for m in admin.site._registry if m._meta.app_label in {"accounts", "commission", "mailing"}],
    ids=lambda m: m._meta.label,
)
def test_every_project_admin_page_renders(admin_client, team, model):
    opts = model._meta
    changelist = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    assert changelist.status_code == 200
    obj = model._default_manager.first()
    assert obj is not None, f"the fixture made no {opts.label}"
    change = admin_client.get(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    )
    assert change.status_code == 200
    # Nothing the Content-Security-Policy would make the browser drop.
    assert inline_code(changelist) == []
    assert inline_code(change) == []


def test_the_inline_code_finder_finds_inline_code():
    """The assertion above can fail: each kind the policy refuses is found."""
    from django.http import HttpResponse

    page = HttpResponse(
        '<script src="/static/a.js"></script><script>x()</script><style>p{}</style>'
        '<p style="color: red" onclick="x()">'
    )
    assert len(inline_code(page)) == 4


EXPECTED_POLICY = {
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "frame-ancestors 'none'",
    "form-action 'self'",
    "base-uri 'none'",
    "object-src 'none'",
}


@pytest.mark.parametrize(
    "path", ["/admin/login/", "/admin/", "/healthz", "/no-such-page/", "/favicon.ico"]
)
def test_every_response_carries_the_content_security_policy(client, path):
    response = client.get(path)
    policy = response.headers["Content-Security-Policy"]
    assert {directive.strip() for directive in policy.split(";")} == EXPECTED_POLICY


def test_the_confirmation_page_has_no_inline_code(admin_client, team):
    page = admin_client.post(
        reverse("admin:commission_team_changelist"),
        {"action": "send_another_copy", "_selected_action": [team.pk]},
    )
    assert page.status_code == 200
    assert "Yes, email another copy" in page.content.decode()
    assert inline_code(page) == []
