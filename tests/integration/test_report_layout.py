"""The report email as a manager reads it on a phone (issue #23): the HTML that is sent, in
headless Chromium at 360 and 600 px, light and dark. Nothing may be wider than the screen,
every text must reach WCAG's 4.5:1 contrast, and the email loads nothing from elsewhere.

Screenshots of every case land in var/report-layout/, passing or failing, for the reader.
"""

import base64
import datetime as dt
import re
from decimal import Decimal
from html.parser import HTMLParser

import pytest

from apps.commission.models import Commission
from apps.commission.periods import Period
from apps.commission.services import prepare_report_email, record_deal
from tests.factories import TeamFactory, UserFactory, add_rep
from tests.support.browser import browser_fixture  # noqa: F401  (the `browser` fixture)
from tests.support.processes import REPO_DIR

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

OUT = REPO_DIR / "var" / "report-layout"
# A closed month, fixed so that the screenshots compare from one run to the next.
PERIOD = Period(2026, 10)
WIDTHS = (360, 600)
MIN_CONTRAST = 4.5

# Long names, as real teams have them: each one a line of its own on a phone.
PEOPLE = {
    "en": {
        "manager": ("Alexandra Konstantinovna", "Rozhdestvenskaya-Oberlander"),
        "team": "Enterprise Accounts North-West",
        "reps": [
            ("Maximiliana Alexandrovna", "Konstantinopolskaya-Vasilievskaya"),
            ("Bartholomew Alexander", "Montgomery-Fitzwilliam-Huntington"),
            ("Anastasiya Vladimirovna", "Oberlander-Rozhdestvenskaya"),
            ("Christopher Jonathan", "Wolfeschlegelsteinhausenberger"),
            ("Guadalupe Esperanza", "Villalobos-Santisteban de la Cruz"),
            ("Oluwaseun Adebayo", "Okonkwo-Adeyemi-Babatunde"),
            ("Leopoldina Friederike", "Schwarzenberg-Lichtensteiner"),
            ("Nikolaos Konstantinos", "Papadopoulos-Christodoulopoulos"),
        ],
    },
    "ru": {
        "manager": ("Александра Константиновна", "Рождественская-Оберлендер"),
        "team": "Корпоративные клиенты Северо-Запад",
        "reps": [
            ("Максимилиана Александровна", "Константинопольская-Васильевская"),
            ("Варфоломей Александрович", "Монтгомери-Фицуильям-Хантингтон"),
            ("Анастасия Владимировна", "Оберлендер-Рождественская"),
            ("Христофор Иоаннович", "Вольфешлегельштайнхаузенбергер"),
            ("Гвадалупе Эсперанса", "Вильялобос-Сантистебан-де-ла-Крус"),
            ("Олувасеун Адебайо", "Оконкво-Адейеми-Бабатунде"),
            ("Леопольдина Фридриховна", "Шварценберг-Лихтенштейнская"),
            ("Николаос Константинович", "Пападопулос-Христодулопулос"),
        ],
    },
}


def build_manager(language: str):
    """One team of 8 reps with deals in the period and each of the 12 months before it:
    the figures, the change and a year's trend all have data; some commission pending."""
    people = PEOPLE[language]
    first_name, last_name = people["manager"]
    manager = UserFactory(
        username=f"manager-{language}",
        first_name=first_name,
        last_name=last_name,
        language=language,
    )
    team = TeamFactory(name=people["team"], manager=manager, commission_rate=Decimal("10.00"))
    reps = [
        add_rep(team, username=f"{language}-rep{index}", first_name=first, last_name=last)
        for index, (first, last) in enumerate(people["reps"])
    ]
    month = PERIOD
    for months_back in range(13):
        for index, rep in enumerate(reps):
            # The period brings 3 deals (odd reps 1: less than the month before, a
            # negative change), the month before 2, older months 1.
            count = 1 if months_back > 1 else 2 if months_back == 1 else 3 - 2 * (index % 2)
            for number in range(count):
                amount = Decimal(48_250 + 13_731 * index + 2_417 * months_back + 911 * number)
                if months_back == 0 and number == 0 and index % 3 == 0:
                    status = Commission.Status.PENDING
                elif months_back <= 1:
                    status = Commission.Status.APPROVED
                else:
                    status = Commission.Status.PAID
                record_deal(
                    rep=rep,
                    amount=amount + Decimal("0.45"),
                    closed_on=dt.date(month.year, month.month, 3 + 9 * number),
                    external_ref=f"{language}-{month}-{index}-{number}",
                    status=status,
                )
        month = month.previous()
    return manager


def report_html(language: str) -> str:
    # Without its compiled catalog the "Russian" report would be English.
    catalog = REPO_DIR / f"backend/locale/{language}/LC_MESSAGES/django.mo"
    assert language == "en" or catalog.exists(), f"run ops/scripts/compile-catalogs.sh: {catalog}"
    manager = build_manager(language)
    _, delivery = prepare_report_email(manager, PERIOD)
    html = delivery.body_html
    assert f'lang="{language}"' in html
    return html


# NOTHING LOADED FROM ELSEWHERE
# ------------------------------------------------------------------------------

# At the start of a value, or of a srcset's candidate.
REMOTE = re.compile(r"(^|[\s,])(https?:)?//", re.IGNORECASE)
REMOTE_URL = re.compile(r"url\(\s*['\"]?\s*(https?:)?//", re.IGNORECASE)
# Attributes that make a mail client fetch something (an <a href> is only a link).
FETCHING_ATTRIBUTES = {"src", "srcset", "background", "poster", "data", "lowsrc", "dynsrc"}


class _Loads(HTMLParser):
    """What in an HTML document runs code or fetches from the network."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.problems.append("a <script>")
        self._in_style = tag == "style"
        for name, value in attrs:
            value = value or ""
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...> (an event handler)")
            if value.strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}={value!r}>")
            if (name in FETCHING_ATTRIBUTES or (tag == "link" and name == "href")) and (
                REMOTE.search(value)
            ):
                self.problems.append(f"<{tag} {name}={value!r}> (remote)")
            if name == "style":
                self.check_css(value, f"<{tag} style>")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        self._in_style = False

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.check_css(data, "<style>")

    def check_css(self, css: str, where: str) -> None:
        if REMOTE_URL.search(css):
            self.problems.append(f"{where}: url() to a remote address (an image or a web font)")
        if "@import" in css.lower():
            self.problems.append(f"{where}: @import (an external stylesheet or font)")


@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_report_email_runs_no_script_and_loads_nothing_remote(language):
    html = report_html(language)
    parser = _Loads()
    parser.feed(html)
    parser.close()
    assert parser.problems == []


# THE LAYOUT IN CHROMIUM
# ------------------------------------------------------------------------------

# Every laid-out element that reaches past either edge of the layout viewport.
OVERFLOW_JS = """
const width = window.innerWidth;
const found = [];
for (const el of document.querySelectorAll('*')) {
  const box = el.getBoundingClientRect();
  if (box.width === 0 && box.height === 0) continue;  // not laid out (head, display: none)
  if (box.right > width + 0.5 || box.left < -0.5) {
    found.push({
      tag: el.tagName.toLowerCase(),
      text: (el.innerText || el.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, 40),
      left: Math.round(box.left),
      width: Math.round(box.width),
    });
  }
}
return {
  innerWidth: width,
  scrollWidth: document.documentElement.scrollWidth,
  overflowing: found,
};
"""

# WCAG 2 contrast of each element's own text against what is behind it: the first
# opaque background-color up its ancestors (translucent ones composited on the way), else
# the canvas, which is what the color-scheme in force makes it. Opacity and background
# images are not considered.
CONTRAST_JS = """
const minimum = arguments[0];
function rgba(value) {
  const match = /^rgba?\\(([^)]*)\\)$/.exec(value.trim());
  if (!match) return null;
  const parts = match[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
  return [parts[0], parts[1], parts[2], parts.length > 3 ? parts[3] : 1];
}
function over(top, bottom) {
  return [0, 1, 2].map(i => top[i] * top[3] + bottom[i] * (1 - top[3])).concat([1]);
}
function luminance(color) {
  const [r, g, b] = color.slice(0, 3).map(c => {
    c /= 255;
    return c <= 0.04045 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
function hex(color) {
  return '#' + color.slice(0, 3).map(c => Math.round(c).toString(16).padStart(2, '0')).join('');
}
const probe = document.createElement('div');
probe.style.backgroundColor = 'Canvas';
document.documentElement.appendChild(probe);
const canvas = rgba(getComputedStyle(probe).backgroundColor) || [255, 255, 255, 1];
probe.remove();

const found = [];
let checked = 0;
for (const el of document.body.querySelectorAll('*')) {
  const text = Array.from(el.childNodes)
    .filter(node => node.nodeType === Node.TEXT_NODE)
    .map(node => node.textContent).join(' ').trim().replace(/\\s+/g, ' ');
  if (!text) continue;
  const style = getComputedStyle(el);
  if (el.getClientRects().length === 0 || style.visibility !== 'visible') continue;
  const layers = [];
  let opaque = false;
  for (let node = el; node && !opaque; node = node.parentElement) {
    const background = getComputedStyle(node).backgroundColor;
    const color = rgba(background);
    if (!color) {
      found.push({tag: el.tagName.toLowerCase(), text: text.slice(0, 40),
                  problem: 'unread background ' + background});
      break;
    }
    if (color[3] > 0) layers.push(color);
    opaque = color[3] >= 1;
  }
  const behind = layers.reverse().reduce((below, layer) => over(layer, below), canvas);
  const foreground = rgba(style.color);
  if (!foreground) {
    found.push({tag: el.tagName.toLowerCase(), text: text.slice(0, 40),
                problem: 'unread color ' + style.color});
    continue;
  }
  const seen = over(foreground, behind);
  const [light, dark] = [luminance(seen), luminance(behind)].sort((a, b) => b - a);
  const ratio = (light + 0.05) / (dark + 0.05);
  checked += 1;
  if (ratio < minimum) {
    found.push({tag: el.tagName.toLowerCase(), text: text.slice(0, 40),
                problem: hex(seen) + ' on ' + hex(behind) + ' is ' + ratio.toFixed(2) + ':1'});
  }
}
return {checked: checked, failing: found};
"""


def set_viewport(browser, width: int, height: int) -> None:
    # A desktop-style viewport (mobile: false): the layout viewport is exactly `width`,
    # whatever the page's <meta name="viewport"> says.
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )


def set_color_scheme(browser, scheme: str) -> None:
    browser.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"media": "screen", "features": [{"name": "prefers-color-scheme", "value": scheme}]},
    )


def save_full_page(browser, width: int, path) -> None:
    """The page at the viewport's width, all of its height."""
    height = browser.execute_script("return document.scrollingElement.scrollHeight")
    shot = browser.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
        },
    )
    path.write_bytes(base64.b64decode(shot["data"]))


def describe_overflow(layout: dict) -> list[str]:
    width = layout["innerWidth"]
    lines = []
    if layout["scrollWidth"] > width:
        lines.append(f"the page is {layout['scrollWidth']} px wide on a {width} px screen")
    overflowing = layout["overflowing"]
    if overflowing:
        lines.append(f"{len(overflowing)} elements reach past the edge, e.g.:")
        lines += [
            f"  <{e['tag']}> {e['text']!r}: left {e['left']} px, width {e['width']} px"
            for e in overflowing[:12]
        ]
    return lines


@pytest.mark.parametrize("width", WIDTHS, ids=[f"{width}px" for width in WIDTHS])
@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_report_email_fits_the_screen_and_reads_in_light_and_dark(
    browser, capsys, language, width
):
    OUT.mkdir(parents=True, exist_ok=True)
    page = OUT / f"report-{language}.html"
    page.write_text(report_html(language), encoding="utf-8")

    set_viewport(browser, width, 800)
    browser.get(page.as_uri())
    browser.execute_async_script("document.fonts.ready.then(() => arguments[0]())")
    assert browser.execute_script("return window.innerWidth") == width

    # Both schemes are measured and photographed before anything is asserted.
    problems, screenshots = [], []
    for scheme, suffix in (("light", ""), ("dark", "-dark")):
        set_color_scheme(browser, scheme)
        assert browser.execute_script(
            f"return matchMedia('(prefers-color-scheme: {scheme})').matches"
        )
        layout = browser.execute_script(OVERFLOW_JS)
        contrast = browser.execute_script(CONTRAST_JS, MIN_CONTRAST)
        screenshot = OUT / f"report-{language}-{width}{suffix}.png"
        save_full_page(browser, width, screenshot)
        screenshots.append(screenshot.relative_to(REPO_DIR))

        assert contrast["checked"] > 0, "no text found to check"
        if lines := describe_overflow(layout):
            problems += [f"{scheme}: {line}" for line in lines]
        if contrast["failing"]:
            problems.append(f"{scheme}: text under {MIN_CONTRAST}:1 contrast, or unreadable:")
            problems += [
                f"  <{e['tag']}> {e['text']!r}: {e['problem']}" for e in contrast["failing"][:12]
            ]

    with capsys.disabled():
        print(f"\nreport-layout {language} {width}px:", *screenshots)
    where = "\n".join(f"  {path}" for path in screenshots)
    assert not problems, (
        f"The {language} report at {width} px:\n" + "\n".join(problems) + f"\nSee:\n{where}"
    )
