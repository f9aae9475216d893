"""An operator at the admin, in headless Chromium (Debian's package): retries a failed task,
adds a deal; and the browser finds nothing its Content-Security-Policy refuses."""

import contextlib
import datetime as dt
import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django_celery_beat.models import CrontabSchedule
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from apps.commission.models import Deal
from apps.commission.periods import default_period
from apps.commission.tasks import generate_and_send_commission_report
from apps.taskops.models import TaskRetry
from tests.factories import TeamFactory, UserFactory, add_rep
from tests.support.browser import browser_fixture  # noqa: F401  (the `browser` fixture)
from tests.support.processes import REPO_DIR
from tests.support.reports import email_the_report
from tests.support.task_results import wait_for_result
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

ARTIFACTS = REPO_DIR / "test-artifacts"
PASSWORD = "browser-test-password"


@contextlib.contextmanager
def screenshot_on_failure(driver, name: str):
    try:
        yield
    except BaseException:
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))
        (ARTIFACTS / f"{name}.html").write_text(driver.page_source)
        raise


def csp_violations(driver) -> list[str]:
    """What the browser refused under the Content-Security-Policy since the last call."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if "Content Security Policy" in entry["message"]
    ]


def log_in(browser, live_server, next_path: str) -> None:
    browser.get(f"{live_server.url}/admin/login/?next={next_path}")
    browser.find_element(By.NAME, "username").send_keys("operator")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit], button[type=submit]").click()


def test_operator_retries_a_failed_report_from_the_admin(
    browser, live_server, worker_pool, worker_mailbox, django_user_model
):
    worker_pool.ensure("reports")
    worker_pool.ensure("email")
    django_user_model.objects.create_superuser("operator", "operator@example.com", PASSWORD)
    team = TeamFactory(manager=UserFactory(username="nomail", email=""))
    add_rep(team)
    period = str(default_period())
    failed = wait_for_result(
        generate_and_send_commission_report.delay(team.manager.pk, period).id, "FAILURE"
    )
    # The operator reads why it failed, fixes the manager's address, then retries.
    assert "has no email address" in failed.result
    team.manager.email = "nomail@example.com"
    team.manager.save()

    with screenshot_on_failure(browser, "admin-retry"):
        log_in(browser, live_server, "/admin/django_celery_results/taskresult/")
        assert browser.find_element(By.ID, "result_list")

        browser.find_element(By.CSS_SELECTOR, f"input.action-select[value='{failed.pk}']").click()
        Select(browser.find_element(By.NAME, "action")).select_by_visible_text(
            "Retry selected failed tasks"
        )
        browser.find_element(By.CSS_SELECTOR, "button[name=index]").click()

        message = browser.find_element(By.CSS_SELECTOR, ".messagelist .success").text
        retry = TaskRetry.objects.get(original_task_id=failed.task_id)
        assert message.startswith("Retried 1 task(s)")
        assert f"{failed.task_id} -> {retry.new_task_id}" in message
        assert retry.retried_by.username == "operator"

        wait_for_result(retry.new_task_id, "SUCCESS")
        # The list names a task by the first 8 characters of its id; a failure retried
        # is handled, and shown only among "Handled too".
        browser.refresh()
        assert failed.task_id[:8] not in result_rows(browser)
        browser.find_element(By.LINK_TEXT, "Handled too (retried or settled)").click()
        rows = result_rows(browser)
        assert "SUCCESS" in rows[retry.new_task_id[:8]]
        assert re.search(rf"FAILURE .*retried as {retry.new_task_id}", rows[failed.task_id[:8]])
        assert f"report for {team.manager}, {period}" in rows[failed.task_id[:8]]
        assert csp_violations(browser) == []

    # The report the retry built went out once.
    messages = wait_for(worker_mailbox.messages, timeout=60, what="the report email")
    assert [m["To"] for m in messages] == ["nomail@example.com"]


def result_rows(browser) -> dict[str, str]:
    return {
        row.find_element(By.CSS_SELECTOR, "th.field-short_id").text: row.text
        for row in browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    }


def test_operator_adds_a_deal_and_is_told_what_is_wrong_with_a_bad_one(
    browser, live_server, django_user_model
):
    django_user_model.objects.create_superuser("operator", "operator@example.com", PASSWORD)
    team = TeamFactory(name="North")
    rep = add_rep(team, joined_on=dt.date(2024, 1, 1), username="rita", first_name="Rita")

    with screenshot_on_failure(browser, "admin-add-deal"):
        log_in(browser, live_server, "/admin/commission/deal/add/")
        assert not browser.find_elements(By.NAME, "team")  # the service finds it
        currency = Select(browser.find_element(By.NAME, "currency"))
        assert [option.text for option in currency.options] == ["USD"]

        # The rep, through the autocomplete as an operator picks one.
        browser.find_element(By.CSS_SELECTOR, ".field-rep .select2-selection").click()
        browser.find_element(By.CSS_SELECTOR, ".select2-search__field").send_keys("rita")
        browser.find_element(
            By.XPATH, f"//li[contains(@class, 'select2-results__option') and .='{rep}']"
        ).click()
        browser.find_element(By.NAME, "amount").send_keys("1000")
        browser.find_element(By.NAME, "external_ref").send_keys("WEB-1")
        # Closed before Rita joined any team: refused, on the page.
        browser.find_element(By.NAME, "closed_on").send_keys("2023-12-31")
        browser.find_element(By.NAME, "_save").click()

        error = browser.find_element(By.CSS_SELECTOR, ".errorlist.nonfield").text
        assert error == f"{rep} was in no team on 2023-12-31"
        assert not Deal.objects.exists()

        # The form kept what was typed; the operator fixes the date.
        closed_on = browser.find_element(By.NAME, "closed_on")
        closed_on.clear()
        closed_on.send_keys("2024-03-01")
        browser.find_element(By.NAME, "_save").click()

        assert (
            "was added successfully" in browser.find_element(By.CSS_SELECTOR, ".messagelist").text
        )
        row = browser.find_element(By.CSS_SELECTOR, "#result_list tbody tr").text
        assert "WEB-1" in row and "North" in row
        # The autocomplete, the calendar shortcuts and the error list ran under the policy.
        assert csp_violations(browser) == []

    deal = Deal.objects.get(external_ref="WEB-1")
    assert (deal.rep, deal.team, deal.commission.amount) == (rep, team, Decimal("100.00"))


def test_every_admin_page_runs_under_the_content_security_policy(
    browser, live_server, django_user_model
):
    """Each list and add page the index links to loads its scripts and styles from files
    without a violation; and an inline script is refused, so a violation would show."""
    django_user_model.objects.create_superuser("operator", "operator@example.com", PASSWORD)
    TeamFactory(name="North")

    with screenshot_on_failure(browser, "admin-csp"):
        log_in(browser, live_server, "/admin/")
        links = [
            link.get_attribute("href")
            for link in browser.find_elements(By.CSS_SELECTOR, "#content-main a")
        ]
        pages = sorted({link for link in links if link.startswith(live_server.url)})
        assert len(pages) > 10, pages
        refused = {}
        for page in pages:
            browser.get(page)
            assert browser.find_element(By.ID, "content")
            if violations := csp_violations(browser):
                refused[page] = violations
        assert refused == {}

        browser.execute_script(
            "const script = document.createElement('script');"
            "script.textContent = 'window.inlineRan = true';"
            "document.body.append(script);"
        )
        assert browser.execute_script("return window.inlineRan === true") is False
        assert any("script-src 'self'" in message for message in csp_violations(browser))


def test_the_periodic_task_form_still_explains_its_crontab(browser, live_server, django_user_model):
    """django-celery-beat's form script, moved out of its template into a static file
    (templates/admin/djcelery/change_periodictask_form.html), still runs."""
    django_user_model.objects.create_superuser("operator", "operator@example.com", PASSWORD)
    crontab = CrontabSchedule.objects.create(minute="0", hour="6", day_of_month="1")

    with screenshot_on_failure(browser, "admin-periodic-task"):
        log_in(browser, live_server, "/admin/django_celery_beat/periodictask/add/")
        translation = browser.find_element(By.CSS_SELECTOR, ".field-crontab_translation")
        assert not translation.is_displayed()
        Select(browser.find_element(By.ID, "id_crontab")).select_by_value(str(crontab.pk))
        help_text = browser.find_element(By.CSS_SELECTOR, ".field-crontab .help").text
        assert f"Translation: {crontab.human_readable}" in help_text
        assert csp_violations(browser) == []


# What the current frame's own policy refused, read from its document: Chromium runs a
# sandboxed frame in a process of its own, whose console csp_violations does not see.
REFUSED_IN_FRAME = """
return [
    ...[...document.querySelectorAll("style")].filter((s) => !s.sheet).map((s) => "<style>"),
    ...[...document.querySelectorAll("[style]")]
        .filter((e) => e.getAttribute("style").trim() && !e.style.cssText)
        .map((e) => `style attribute of <${e.localName}>`),
    ...[...document.images].filter((i) => !i.naturalWidth).map((i) => `image ${i.src}`),
];
"""


def test_a_view_only_operator_previews_the_report_email_as_sent(
    browser, live_server, django_user_model
):
    """The delivery's page frames the HTML as stored (core/admin_email_preview.py), sandboxed
    under its own policy; neither the page nor the frame has anything refused."""
    operator = django_user_model.objects.create_user(
        "operator", "operator@example.com", PASSWORD, is_staff=True
    )
    operator.user_permissions.add(
        Permission.objects.get(content_type__app_label="mailing", codename="view_emaildelivery")
    )
    team = TeamFactory(name="North")
    add_rep(team, first_name="Rita", last_name="Okonkwo")
    delivery = email_the_report(team)

    with screenshot_on_failure(browser, "admin-email-preview"):
        log_in(browser, live_server, f"/admin/mailing/emaildelivery/{delivery.pk}/change/")
        frame = browser.find_element(By.CSS_SELECTOR, ".field-html_preview iframe")
        assert frame.get_attribute("sandbox") == ""
        # Sized by admin/sent_email.css: an unstyled frame is 150 px high.
        assert frame.size["height"] > 300
        text = browser.find_element(By.CSS_SELECTOR, "pre.sent-email-text").text
        assert text.splitlines()[0] == delivery.body_text.splitlines()[0]
        assert csp_violations(browser) == []

        browser.switch_to.frame(frame)
        report = browser.find_element(By.TAG_NAME, "body").text
        assert "North" in report and "Rita Okonkwo" in report
        assert browser.execute_script("return window.origin") == "null"  # sandboxed
        assert browser.find_elements(By.CSS_SELECTOR, "[style]")  # so the next check counts
        assert browser.execute_script(REFUSED_IN_FRAME) == []
