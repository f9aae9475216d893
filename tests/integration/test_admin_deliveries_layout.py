"""The email deliveries list in headless Chromium (Debian's package) at 1,400 px, as an
operator on a laptop sees it: every column, the times sent and tracked included, within
the window, with the longest values the list shows."""

import datetime as dt

import pytest
from django.utils import timezone
from selenium.webdriver.common.by import By

from apps.mailing.models import EmailDelivery
from apps.mailing.services import create_delivery
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
    sent: right("#result_list th.column-sent"),
    tracked: right("#result_list th.column-tracked"),
};
"""


def test_the_deliveries_list_fits_1400_px_with_sent_and_tracked_times(
    browser, live_server, django_user_model
):
    django_user_model.objects.create_superuser("operator", "operator@example.com", PASSWORD)
    now = timezone.now()
    for i, status in enumerate(WIDE_STATUSES * 4):
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
            status=status,
            attempts=12,
            next_attempt_at=now + dt.timedelta(hours=1),
            sent_at=now,
            tracked_at=now,
            provider_message_id=f"{i:08}-0000-4000-8000-000000000000",
        )

    with screenshot_on_failure(browser, "admin-deliveries-1400"):
        log_in(browser, live_server, "/admin/mailing/emaildelivery/")
        assert browser.find_element(By.ID, "result_list")
        # The filters are shown beside the table, as an operator first sees the list.
        assert browser.find_element(By.ID, "changelist-filter").is_displayed()
        sizes = browser.execute_script(MEASURE)

        assert sizes["viewport"] <= 1400
        assert sizes["page"] <= sizes["viewport"], sizes
        assert sizes["table"] <= sizes["boxWidth"] == sizes["boxScroll"], sizes
        assert sizes["box"] <= sizes["viewport"], sizes
        assert sizes["sent"] <= sizes["box"] and sizes["tracked"] <= sizes["box"], sizes
        rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
        assert len(rows) == len(WIDE_STATUSES) * 4
        assert "Vasilyevich-Rozhdestvensky" in rows[0].text and "2026-11" in rows[0].text
