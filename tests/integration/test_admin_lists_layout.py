"""The operator's two lists, email deliveries and task results, in headless Chromium
(Debian's package) at 1,400 px, as on a laptop: every column, the times included, within
the table's box and the window, with the longest values they show."""

import datetime as dt
import json

import pytest
from celery.utils import uuid
from django.utils import timezone
from django_celery_results.models import TaskResult
from selenium.webdriver.common.by import By

from apps.mailing.models import EmailDelivery
from apps.mailing.services import create_delivery
from apps.taskops.models import TaskRetry
from tests.factories import UserFactory
from tests.integration.test_admin_browser import PASSWORD, log_in, screenshot_on_failure
from tests.support.browser import browser_fixture  # noqa: F401  (the `browser` fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

Status = EmailDelivery.Status
# The widest the columns get: the longest status labels, long names and addresses.
WIDE_STATUSES = [
    Status.UNCONFIRMED,
    Status.SENT,
    Status.DEFERRED,
    Status.HELD,
    Status.RETRYING,
    Status.CANCELLED,
]
LONG_ERROR = (
    "AnymailRequestsAPIError: Postmark API response 422 (Unprocessable Entity): "
    "Invalid 'To' address: 'konstantin.rozhdestvensky at enterprise-north-division'"
)

# The table scrolls inside its own box (.results) when it is too wide: what is visible
# is what lies within that box and within the window.
MEASURE = """
const box = document.querySelector("#changelist .results");
const right = (selector) => document.querySelector(selector).getBoundingClientRect().right;
return {
    viewport: document.documentElement.clientWidth,
    page: document.documentElement.scrollWidth,
    box: box.getBoundingClientRect().right,
    boxScroll: box.scrollWidth,
    boxWidth: box.clientWidth,
    table: document.getElementById("result_list").scrollWidth,
    columns: arguments[0].map(right),
};
"""


def long_named_deliveries(count: int) -> list[EmailDelivery]:
    now = timezone.now()
    made = []
    for i in range(count):
        manager = UserFactory(
            username=f"manager{i}",
            first_name="Konstantin",
            last_name=f"Vasilyevich-Rozhdestvensky{i}",
        )
        delivery, _ = create_delivery(
            idempotency_key=f"commission-report:{manager.pk}:2026-11:{i}",
            to_email=f"konstantin.rozhdestvensky-{i}@enterprise-north-division.example.com",
            subject="Commission report 2026-11: Enterprise North, Enterprise South, Central",
            body_text="B",
            user=manager,
            period="2026-11",
            resend_key="" if i % 2 else f"{i:08}deadbeefcafe",
        )
        EmailDelivery.objects.filter(pk=delivery.pk).update(
            status=WIDE_STATUSES[i % len(WIDE_STATUSES)],
            attempts=12,
            next_attempt_at=now + dt.timedelta(hours=1),
            sent_at=now,
            tracked_at=now,
            provider_message_id=f"{i:08}-0000-4000-8000-000000000000",
            last_error=LONG_ERROR,
        )
        made.append(delivery)
    return made


def assert_fits(browser, *last_columns: str) -> None:
    sizes = browser.execute_script(MEASURE, [f"#result_list th.{c}" for c in last_columns])
    assert sizes["viewport"] <= 1400
    assert sizes["page"] <= sizes["viewport"], sizes
    assert sizes["table"] <= sizes["boxWidth"] == sizes["boxScroll"], sizes
    assert sizes["box"] <= sizes["viewport"], sizes
    assert all(right <= sizes["box"] for right in sizes["columns"]), sizes


def test_the_deliveries_list_fits_1400_px_with_sent_and_tracked_times(
    browser, live_server, django_user_model
):
    django_user_model.objects.create_superuser("operator", "operator@example.com", PASSWORD)
    long_named_deliveries(24)

    with screenshot_on_failure(browser, "admin-deliveries-1400"):
        log_in(browser, live_server, "/admin/mailing/emaildelivery/")
        rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
        assert len(rows) == 24
        assert "Vasilyevich-Rozhdestvensky" in rows[0].text and "2026-11" in rows[0].text
        # The filters beside the table, as an operator first sees the list.
        assert browser.find_element(By.ID, "changelist-filter").is_displayed()
        assert_fits(browser, "column-sent", "column-tracked")


def test_the_task_results_list_fits_1400_px_with_whom_each_was_for(
    browser, live_server, django_user_model
):
    django_user_model.objects.create_superuser("operator", "operator@example.com", PASSWORD)
    for delivery in long_named_deliveries(12):
        failure = TaskResult.objects.create(
            task_id=uuid(),
            task_name="apps.mailing.tasks.send_email_delivery",
            status="FAILURE",
            worker="celery@worker-email-7f9c8d6b5-x2k4q.enterprise-north-division.internal",
            meta=json.dumps({"queue": "email", "args": [delivery.pk], "kwargs": {}}),
            result=json.dumps({"exc_type": "PermanentEmailError", "exc_message": [LONG_ERROR]}),
        )
        TaskRetry.objects.create(
            original_task_id=failure.task_id,
            new_task_id=uuid(),
            task_name=failure.task_name,
            retried_by_name="konstantin.operator (manage.py retry_failed_tasks)",
        )

    with screenshot_on_failure(browser, "admin-task-results-1400"):
        # Handled too: the retried failures, with the longest "handled" text.
        log_in(browser, live_server, "/admin/django_celery_results/taskresult/?failures=all")
        rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
        assert len(rows) == 12
        assert "(Konstantin Vasilyevich-Rozhdestvensky" in rows[0].text
        assert "retried as" in rows[0].text
        assert_fits(browser, "column-done", "column-handling")
