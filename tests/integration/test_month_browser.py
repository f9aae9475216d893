"""The operator's month page in headless Chromium at 1,400 px: it fits, the browser
refuses nothing under the Content-Security-Policy, and a problem's fix button leads to
its action's confirmation page. Screenshot: var/month-page/month-1400.png."""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from apps.commission.periods import default_period
from apps.mailing.models import EmailDelivery
from tests.commission.test_month import VIEW, seed_month
from tests.integration.test_admin_browser import PASSWORD, csp_violations, screenshot_on_failure
from tests.support.admin import staff_user
from tests.support.browser import browser_fixture  # noqa: F401  (the `browser` fixture)
from tests.support.processes import REPO_DIR

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

SCREENSHOTS = REPO_DIR / "var" / "month-page"
WIDTH = 1400

LAYOUT = """
const viewport = document.documentElement.clientWidth;
const outside = [...document.querySelectorAll('#content *')]
  .filter((element) => element.getBoundingClientRect().right > viewport + 0.5)
  .map((element) => element.tagName + '.' + element.className);
return {viewport, scrollWidth: document.documentElement.scrollWidth, outside};
"""


def test_the_month_page_fits_1400_px_and_its_fix_leads_to_the_action(browser, live_server):
    period = str(default_period())
    seed_month(period, 30)
    operator = staff_user(*VIEW, "taskops.retry_failed_task", "mailing.clear_undeliverableaddress")
    operator.set_password(PASSWORD)
    operator.save()
    failed = EmailDelivery.objects.filter(period=period, status=EmailDelivery.Status.FAILED)[0]

    with screenshot_on_failure(browser, "month-page"):
        browser.set_window_size(WIDTH, 1000)
        browser.get(f"{live_server.url}/admin/login/?next=/admin/months/{period}/")
        browser.find_element(By.NAME, "username").send_keys(operator.username)
        browser.find_element(By.NAME, "password").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        assert "owed a report" in browser.find_element(By.CLASS_NAME, "month-answer").text

        layout = browser.execute_script(LAYOUT)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SCREENSHOTS / f"month-{WIDTH}.png"))
        assert layout["scrollWidth"] <= layout["viewport"], layout
        assert layout["outside"] == []
        assert csp_violations(browser) == []

        row = browser.find_element(
            By.XPATH, f"//form[input[@name='_selected_action' and @value='{failed.pk}']]"
        )
        row.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        WebDriverWait(browser, 10).until(expected_conditions.staleness_of(row))
        # The action's own page, which asks before anything is sent.
        asked = browser.find_element(By.ID, "content").text
        assert "Send 1 failed email(s) again?" in asked
        assert f"delivery {failed.pk} to {failed.to_email}" in asked
        assert csp_violations(browser) == []
    failed.refresh_from_db()
    assert failed.status == EmailDelivery.Status.FAILED  # nothing sent without the yes
