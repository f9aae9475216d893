"""An admin action that asks before it acts (core.admin_confirm): its page lists what the
action would do and posts back the same selection and action, confirmed; only that post
counts as confirmed. (Each action's own page: the cancel, payout, retry and another-copy
tests.)"""

import re

import pytest
from django.contrib import admin
from django.test import RequestFactory

from apps.commission.models import Team
from core.admin_confirm import confirmation_page, confirmed

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@pytest.mark.django_db
def test_the_page_lists_what_would_happen_and_posts_back_the_selection_confirmed(admin_user):
    request = RequestFactory().post("/admin/commission/team/")
    request.user = admin_user

    page = confirmation_page(
        admin.site._registry[Team],
        request,
        action="send_another_copy",
        field="confirm_another_copy",
        selected=[3, 14],
        title="Email another copy?",
        intro="These managers get one more copy:",
        items=["maria <maria@example.com> (already sent)"],
        note="Nothing is sent until you confirm.",
        confirm_label="Yes, email another copy",
    ).render()

    html = page.content.decode()
    assert page.status_code == 200
    assert "<li>maria &lt;maria@example.com&gt; (already sent)</li>" in html  # escaped
    assert "Nothing is sent until you confirm." in html
    assert [pair for pair in HIDDEN.findall(html) if pair[0] != "csrfmiddlewaretoken"] == [
        ("_selected_action", "3"),
        ("_selected_action", "14"),
        ("action", "send_another_copy"),
        ("confirm_another_copy", "yes"),
    ]
    assert 'value="Yes, email another copy"' in html


def test_only_the_pages_own_post_is_confirmed():
    factory = RequestFactory()

    assert confirmed(factory.post("/", {"confirm_cancel": "yes"}), "confirm_cancel")
    assert not confirmed(factory.post("/", {"confirm_cancel": "no"}), "confirm_cancel")
    assert not confirmed(factory.post("/", {"confirm_other": "yes"}), "confirm_cancel")
    assert not confirmed(factory.post("/", {}), "confirm_cancel")
    assert not confirmed(factory.get("/", {"confirm_cancel": "yes"}), "confirm_cancel")
