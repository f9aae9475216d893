"""The operator's month page: its numbers against an independent count, its queries at
two sizes, who may see it, and the fix it offers for each problem."""

import html
import itertools
import re

import pytest
from django.urls import reverse

from apps.commission.models import CommissionReport, ReportRequest
from apps.commission.month import OUTCOMES, PROBLEM_STATUSES, month_summary
from apps.commission.periods import default_period
from apps.mailing.models import EmailDelivery, UndeliverableAddress
from tests.factories import UserFactory
from tests.support.admin import staff_user

pytestmark = pytest.mark.django_db

Status = EmailDelivery.Status
VIEW = ("commission.view_reportrequest", "mailing.view_emaildelivery")


def seed_month(period: str, managers: int, tag: str = "m") -> list[EmailDelivery]:
    """`managers` managers owed the month's report, their originals going round every
    outcome, every third with a copy of another outcome, every seventh refused."""
    users = [UserFactory(username=f"{tag}{index}") for index in range(managers)]
    statuses = itertools.cycle(OUTCOMES)
    deliveries = []
    for index, user in enumerate(users):
        refused = index % 7 == 6
        ReportRequest.objects.create(
            manager=user,
            period=period,
            source=ReportRequest.Source.MONTHLY,
            status=ReportRequest.Status.REFUSED if refused else ReportRequest.Status.BUILT,
            last_error="Nobody to write to: no valid email address." if refused else "",
        )
        if refused:
            continue
        CommissionReport.objects.create(
            manager=user, period=period, subject="s", body_text="t", data={}
        )
        copies = [""] + ([f"copy{index}"] if index % 3 == 0 else [])
        for resend_key in copies:
            status = next(statuses)
            deliveries.append(
                EmailDelivery.objects.create(
                    idempotency_key=f"commission-report:{user.pk}:{period}:{resend_key}",
                    to_email=user.email,
                    subject="s",
                    body_text="t",
                    user=user,
                    period=period,
                    resend_key=resend_key,
                    status=status,
                    last_error=f"{status} because of a test" if status in PROBLEM_STATUSES else "",
                )
            )
    return deliveries


def test_the_month_counts_each_manager_once_and_copies_apart():
    period = default_period()
    deliveries = seed_month(str(period), 40)
    # Another month's rows count nowhere here.
    seed_month(str(period.previous()), 5, tag="other")

    summary = month_summary(period)

    originals = {status: set() for status in OUTCOMES}
    copies = dict.fromkeys(OUTCOMES, 0)
    for delivery in deliveries:
        if delivery.resend_key:
            copies[delivery.status] += 1
        else:
            originals[delivery.status].add(delivery.user_id)
    assert {o.status: o.managers for o in summary.outcomes} == {
        status: len(users) for status, users in originals.items()
    }
    assert {o.status: o.copies for o in summary.outcomes} == copies
    assert summary.managers_owed == 40
    assert summary.requests_refused == len([i for i in range(40) if i % 7 == 6])
    assert summary.reports_built == 40 - summary.requests_refused
    assert summary.emailed == sum(
        len(users) for status, users in originals.items() if status in EmailDelivery.GONE
    )
    assert summary.emails_owed == len([d for d in deliveries if d.status in EmailDelivery.OWED])
    oldest_owed = min(d.created_at for d in deliveries if d.status in EmailDelivery.OWED)
    assert summary.oldest_owed_since == oldest_owed
    problems = [d for d in deliveries if d.status in PROBLEM_STATUSES]
    assert summary.problems_total == len(problems) + summary.requests_refused
    assert {p.delivery_id for p in summary.problems if p.delivery_id} == {d.pk for d in problems}


@pytest.mark.parametrize("managers", [10, 120])
def test_the_month_page_answers_in_the_same_queries_at_any_size(
    client, django_assert_max_num_queries, managers
):
    period = str(default_period())
    seed_month(period, managers)
    client.force_login(staff_user(*VIEW))

    # Session, user and permissions, then the page's own: the same at both sizes.
    with django_assert_max_num_queries(12):
        response = client.get(reverse("admin_month", args=[period]))

    assert response.status_code == 200


def test_the_page_shows_the_numbers_and_each_links_to_a_list_of_as_many(client):
    period = str(default_period())
    seed_month(period, 30)
    client.force_login(staff_user(*VIEW, "commission.view_commissionreport"))

    response = client.get(reverse("admin_month", args=[period]))
    page = response.content.decode()

    summary = response.context["summary"]
    assert "30 managers owed a report" in page
    assert f"{summary.reports_built} built" in page
    assert f"{summary.emails_owed} emails still owed</a>, the oldest waiting for" in page
    # One original per manager here, so each count is as many rows of its list.
    for outcome, managers_url, copies_url in response.context["outcomes"]:
        for url, expected in ((managers_url, outcome.managers), (copies_url, outcome.copies)):
            if expected:
                assert html.escape(url) in page
                assert _listed(client, url) == expected, (outcome.status, url)
    links = response.context["links"]
    assert _listed(client, links["refused"]) == summary.requests_refused
    assert _listed(client, links["requests"]) == 30
    assert _listed(client, links["reports"]) == summary.reports_built
    assert _listed(client, links["owed"]) == summary.emails_owed


def _listed(client, url: str) -> int:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.context["cl"].result_count


def test_each_problem_offers_its_fix_to_whoever_may_take_it(client):
    period = str(default_period())
    user = UserFactory(username="daniel")
    failed = EmailDelivery.objects.create(
        idempotency_key="k1",
        to_email=user.email,
        subject="s",
        body_text="t",
        user=user,
        period=period,
        status=Status.FAILED,
        last_error="PermanentEmailError: refused\nmore",
    )
    held = EmailDelivery.objects.create(
        idempotency_key="k2",
        to_email="dead@example.com",
        subject="s",
        body_text="t",
        user=user,
        period=period,
        resend_key="again",
        status=Status.HELD,
        last_error="Held: dead@example.com bounced",
    )
    mark = UndeliverableAddress.objects.create(
        email="dead@example.com", reason=UndeliverableAddress.Reason.BOUNCED
    )
    url = reverse("admin_month", args=[period])

    client.force_login(
        staff_user(*VIEW, "taskops.retry_failed_task", "mailing.clear_undeliverableaddress")
    )
    page = client.get(url).content.decode()
    assert _hidden(page, "action", "send_again") and _hidden(page, "_selected_action", failed.pk)
    assert _hidden(page, "action", "clear_marks") and _hidden(page, "_selected_action", mark.pk)
    assert "PermanentEmailError: refused" in page and "more" not in page
    assert reverse("admin:accounts_user_change", args=[user.pk]) in page
    assert reverse("admin:mailing_emaildelivery_change", args=[held.pk]) in page

    client.force_login(staff_user(*VIEW))
    page = client.get(url).content.decode()
    assert not _hidden(page, "action", "send_again")
    assert not _hidden(page, "action", "clear_marks")
    assert "Needs the permission to retry failed tasks." in page


def test_only_who_may_view_requests_and_deliveries_sees_a_month(client):
    period = str(default_period())
    url = reverse("admin_month", args=[period])

    assert client.get(url).status_code == 302  # to the login page

    client.force_login(staff_user("commission.view_reportrequest"))
    assert client.get(url).status_code == 403
    assert client.get(reverse("admin_months")).status_code == 403
    assert "admin_months" not in client.get(reverse("admin:index")).content.decode()

    client.force_login(staff_user(*VIEW))
    assert client.get(url).status_code == 200
    assert client.get(reverse("admin:index")).content.decode().count(reverse("admin_months")) >= 1
    assert client.post(url).status_code == 405  # a page that only reads
    assert client.get(reverse("admin_month", args=["2026-13"])).status_code == 404


def test_the_months_list_and_every_record_of_a_month_link_to_its_page(client):
    period = str(default_period())
    seed_month(period, 3)
    client.force_login(staff_user(*VIEW, "commission.view_commissionreport"))
    month = reverse("admin_month", args=[period])

    assert month in client.get(reverse("admin_months")).content.decode()
    request = ReportRequest.objects.filter(period=period).first()
    report = CommissionReport.objects.filter(period=period).first()
    for url in (
        reverse("admin:commission_reportrequest_changelist"),
        reverse("admin:commission_reportrequest_change", args=[request.pk]),
        reverse("admin:commission_commissionreport_changelist"),
        reverse("admin:commission_commissionreport_change", args=[report.pk]),
    ):
        assert month in client.get(url).content.decode(), url


def test_nothing_owed_reads_as_nothing_to_do(client):
    client.force_login(staff_user(*VIEW))
    page = client.get(reverse("admin_month", args=[str(default_period())])).content.decode()
    assert "Nothing needs a person this month." in page
    assert "0 managers owed a report" in page
    assert "the oldest waiting" not in page


def _hidden(page: str, name: str, value) -> bool:
    return bool(re.search(rf'name="{name}" value="{value}"', page))
