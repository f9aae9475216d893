"""The email deliveries admin as an operator reads it (apps.mailing.admin): whom each email
is for, which month and copy; filters by month and outcome; search; the same queries for
any page; and a record page that reads first what matters and offers nothing to save or
delete. (The email as sent: tests/core/test_admin_email_preview.py; Send again:
test_resend_failed.py; Cancel: test_cancel.py.)"""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.mailing.models import EmailDelivery
from apps.mailing.services import create_delivery
from tests.factories import UserFactory
from tests.support.admin import offered_actions, staff_user

pytestmark = pytest.mark.django_db

Status = EmailDelivery.Status
CHANGELIST = reverse("admin:mailing_emaildelivery_changelist")
VIEW = "mailing.view_emaildelivery"


def delivery(key: str, *, user=None, period="", resend_key="", **changes) -> EmailDelivery:
    made, _ = create_delivery(
        idempotency_key=f"test:{key}",
        to_email=f"{key}@example.com",
        subject=f"Commission report {period}",
        body_text="B",
        user=user,
        period=period,
        resend_key=resend_key,
    )
    if changes:
        EmailDelivery.objects.filter(pk=made.pk).update(**changes)
        made.refresh_from_db()
    return made


def row_html(page: str, row: EmailDelivery) -> str:
    """The list's table row that links to `row`."""
    link = f'href="/admin/mailing/emaildelivery/{row.pk}/change/'
    return next(chunk for chunk in page.split("<tr")[1:] if link in chunk).split("</tr>")[0]


def listed(client, query: str = "") -> list[int]:
    response = client.get(CHANGELIST + query)
    assert response.status_code == 200
    return [row.pk for row in response.context["cl"].result_list]


@pytest.fixture
def maria():
    return UserFactory(username="maria", first_name="Maria", last_name="Ivanova")


def test_each_row_says_whom_which_month_and_which_copy(admin_client, maria):
    sent_at = timezone.make_aware(dt.datetime(2026, 12, 1, 6, 0, 5))
    original = delivery(
        "original",
        user=maria,
        period="2026-11",
        status=Status.DELIVERED,
        sent_at=sent_at,
        tracked_at=sent_at + dt.timedelta(minutes=1),
        provider_message_id="pm-0001",
    )
    copy = delivery("copy", user=maria, period="2026-11", resend_key="0123456789abcdef")
    delivery("unowned")

    page = admin_client.get(CHANGELIST).content.decode()

    original_row, copy_row = row_html(page, original), row_html(page, copy)
    manager = (
        f'<a href="{CHANGELIST}?user__id__exact={maria.pk}" title="Emails to this manager">'
        "Maria Ivanova</a>"
    )
    assert manager in original_row and manager in copy_row
    month = reverse("admin_month", args=["2026-11"])
    assert f'<td class="field-period_link"><a href="{month}">2026-11</a></td>' in original_row
    assert '<td class="field-copy">original</td>' in original_row
    assert '<td class="field-copy">resend 01234567</td>' in copy_row
    # Times as the server's time zone (UTC here) writes them, wrapping only between the
    # date and the time.
    time = '<span class="nowrap">2026-12-01</span> <span class="nowrap">06:0{}</span>'
    assert f'<td class="field-sent">{time.format(0)}</td>' in original_row
    assert f'<td class="field-tracked">{time.format(1)}</td>' in original_row
    assert "Delivered<small>0 attempts</small>" in original_row
    # On the record's page, not in the list.
    assert "pm-0001" not in page


def test_the_month_filter_lists_the_months_present_newest_first(admin_client, maria):
    november = delivery("nov", user=maria, period="2026-11")
    october = delivery("oct", user=maria, period="2026-10")
    older = delivery("old")  # made before deliveries knew their month

    response = admin_client.get(CHANGELIST)
    month = next(spec for spec in response.context["cl"].filter_specs if spec.title == "month")

    assert month.lookup_choices == [
        ("2026-11", "2026-11"),
        ("2026-10", "2026-10"),
        ("none", "No month recorded"),
    ]
    assert listed(admin_client, "?period=2026-11") == [november.pk]
    assert listed(admin_client, "?period=2026-10") == [october.pk]
    assert listed(admin_client, "?period=none") == [older.pk]


def test_the_outcome_filter_groups_statuses_and_takes_a_single_one(admin_client):
    rows = {status: delivery(status, status=status) for status in Status.values}

    def outcome(value: str) -> set[str]:
        pks = listed(admin_client, f"?outcome={value}")
        return {status for status, row in rows.items() if row.pk in pks}

    assert outcome("owed") == {"queued", "sending", "retrying", "unconfirmed"}
    assert outcome("problem") == {"bounced", "complained", "rejected"}
    assert outcome("failed") == {"failed"}
    assert outcome("held") == {"held"}
    assert outcome("sent") == {"sent"}
    assert outcome("bounced") == {"bounced"}
    assert outcome("anything-else") == set(Status.values)


def test_search_finds_a_manager_by_name_and_an_email_by_address_or_key(admin_client, maria):
    hers = delivery("hers", user=maria, period="2026-11")
    other = delivery("other", user=UserFactory(first_name="Daniel", last_name="Sokolov"))

    assert listed(admin_client, "?q=Maria+Ivanova") == [hers.pk]
    assert listed(admin_client, "?q=maria") == [hers.pk]
    assert listed(admin_client, "?q=other%40example.com") == [other.pk]
    assert listed(admin_client, "?q=test%3Ahers") == [hers.pk]
    assert listed(admin_client, f"?user__id__exact={maria.pk}") == [hers.pk]


@pytest.mark.parametrize("size", [2, 30])
def test_the_list_costs_the_same_queries_whatever_its_size(
    admin_client, size, django_assert_max_num_queries
):
    for i in range(size):
        manager = UserFactory(username=f"manager{i}")
        delivery(f"d{i}", user=manager, period=f"2026-{i % 12 + 1:02}")

    # Session, user, counts, rows with their managers, the month filter's months, the
    # date hierarchy and date filters, the admin log: never one per row.
    with django_assert_max_num_queries(9):
        page = admin_client.get(CHANGELIST).content.decode()

    assert page.count('title="Emails to this manager"') == size


def record_page(client, row: EmailDelivery):
    response = client.get(reverse("admin:mailing_emaildelivery_change", args=[row.pk]))
    assert response.status_code == 200
    return response


@pytest.mark.parametrize("who", ["superuser", "view only"])
def test_the_record_reads_status_first_and_offers_nothing_to_save_or_delete(
    client, admin_user, maria, who
):
    row = delivery(
        "failed",
        user=maria,
        period="2026-11",
        resend_key="feedbeef00",
        status=Status.FAILED,
        last_error="422: bad address",
        readdressed=[{"old": "d at x", "new": "d@x.io", "at": "2026-12-01T06:00", "by": "ops"}],
    )
    client.force_login(admin_user if who == "superuser" else staff_user(VIEW))

    response = record_page(client, row)

    page = response.content.decode()
    # Read top to bottom: how it went, to whom, the month, the manager, the copy, the
    # error; then the email itself.
    order = ["status", "to_email", "period", "manager_page", "copy", "last_error", "subject"]
    positions = [page.index(f'class="form-row field-{name}') for name in order]
    assert positions == sorted(positions)
    assert "Maria Ivanova (maria)" in page and "resend feedbeef" in page
    assert "d at x → d@x.io, 2026-12-01T06:00 by ops" in page
    # Nothing to submit: no Save, no Delete; a way back, and the history.
    assert 'name="_save"' not in page and 'name="_continue"' not in page
    assert "deletelink" not in page and "/delete/" not in page
    assert "closelink" in page and "/history/" in page
    assert response.context["has_change_permission"] is False


def test_cancel_also_ends_a_held_email(client, admin_user):
    held = delivery("held", status=Status.HELD, next_attempt_at=None)
    client.force_login(admin_user)
    assert {"cancel", "send_again"} <= offered_actions(client, CHANGELIST)

    client.post(
        CHANGELIST,
        {"action": "cancel", "_selected_action": [held.pk], "confirm_cancel": "yes"},
    )

    assert EmailDelivery.objects.get(pk=held.pk).status == Status.CANCELLED
