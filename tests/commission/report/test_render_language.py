"""The report in the manager's language: the default for a language no longer offered,
Russian numbers and dates, and catalogs that translate every string of the report. (Which
language a user reads: tests/accounts/test_languages.py.)"""

import datetime as dt
from decimal import Decimal

import pytest
from babel import Locale
from babel.messages.extract import extract_from_file
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, parse_pattern
from django.conf import settings as django_settings
from django.core import mail
from django.utils import timezone, translation
from django.utils.translation import pgettext

from apps.commission import tasks
from apps.commission.money import to_money
from apps.commission.periods import Period
from apps.commission.report import formats
from apps.commission.report.figures import build_report
from apps.commission.report.render import render_csv, render_text, report_subject
from apps.commission.services import record_deal
from tests.factories import TeamFactory, UserFactory, add_rep
from tests.support.processes import REPO_DIR as REPO

REPORT_SOURCES = sorted((REPO / "backend/apps/commission/report").glob("*.py"))
RU_PO = REPO / "backend/locale/ru/LC_MESSAGES/django.po"
RU_MO = RU_PO.with_suffix(".mo")
# What Django's makemessages looks for, in Babel's terms.
KEYWORDS = {
    "gettext": None,
    "_": None,
    "ngettext": (1, 2),
    "pgettext": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3),
    "gettext_lazy": None,
}


@pytest.fixture
def russian_team(settings):
    settings.COMMISSION_CURRENCY = "RUB"
    manager = UserFactory(username="olga", first_name="Olga", last_name="Smirnova", language="ru")
    team = TeamFactory(name="Partners", manager=manager, commission_rate=Decimal("10"))
    rep = add_rep(team, first_name="Marco", last_name="Rossi")
    record_deal(rep=rep, amount="12340788.30", closed_on=dt.date(2026, 10, 5), external_ref="R1")
    return team


# THE CHOICE AND THE FALLBACK
# ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_unknown_language_reads_the_report_in_the_default(settings):
    settings.LANGUAGE_CODE = "ru"
    manager = UserFactory(first_name="Maria", last_name="Ivanova")
    type(manager).objects.filter(pk=manager.pk).update(language="fr")
    manager.refresh_from_db()
    add_rep(TeamFactory(name="North", manager=manager))

    report = build_report(manager, Period(2025, 9))

    assert report.language == "ru"
    assert report_subject(report) == "Отчёт о комиссиях за сентябрь 2025: North"


# RUSSIAN
# ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_task_emails_a_russian_manager_a_russian_report(
    celery_eager, russian_team, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        result = tasks.generate_and_send_commission_report.delay(russian_team.manager.pk, "2026-10")

    assert result.successful(), result.traceback
    (message,) = mail.outbox
    assert message.subject == "Отчёт о комиссиях за октябрь 2026: Partners"
    nbsp = "\N{NO-BREAK SPACE}"
    assert f"Итого комиссия: 1{nbsp}234{nbsp}078,83{nbsp}₽\n  за 1 сделку" in message.body
    assert f"12{nbsp}340{nbsp}788,30" in message.body
    assert "период с 1 октября 2026 по 31 октября 2026." in message.body
    html, _ = message.alternatives[0]
    assert '<html lang="ru">' in html and "Комиссия по месяцам" in html
    (_, csv_text, _), (_, deals_csv, _) = message.attachments
    assert csv_text.splitlines()[0].startswith("Период,Команда,Сотрудник,Сделки,")
    assert "2026-10,Partners,Marco Rossi,1,12340788.30,1234078.83," in csv_text
    assert deals_csv.splitlines() == [
        "Сделка,Дата закрытия,Сотрудник,Команда,Сумма,Комиссия,Статус,Валюта",
        "R1,2026-10-05,Marco Rossi,Partners,12340788.30,1234078.83,pending,RUB",
    ]
    # Nothing English is left but the names (Partners, Marco Rossi, Olga Smirnova).
    words = {w for part in (message.subject, message.body, html) for w in part.split()}
    english = {"Commission", "Team", "Manager:", "Total", "total", "Rep", "Amounts", "Change"}
    english |= {"Up", "Down", "Awaiting", "approval:", "month", "Attached:", "Deals", "Sales"}
    assert not words & english


@pytest.mark.django_db
def test_the_month_in_progress_says_month_to_date_in_russian(russian_team, monkeypatch):
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: dt.date(2026, 10, 15))

    report = build_report(russian_team.manager, Period(2026, 10))

    assert report_subject(report) == (
        "Отчёт о комиссиях за октябрь 2026 (с начала месяца, на 15 октября 2026): Partners"
    )
    assert "период с 1 октября 2026 по 15 октября 2026." in render_text(report)


@pytest.mark.django_db
def test_the_csv_stays_machine_readable_in_russian(russian_team):
    rows = render_csv(build_report(russian_team.manager, Period(2026, 11))).splitlines()

    # November: no deal; October's commission is the previous month's, so a plain "-".
    assert rows[1].split(",")[-3:] == ["-1234078.83", "1234078.83", "1234078.83"]


# THE CATALOGS
# ------------------------------------------------------------------------------


def report_messages() -> set[tuple[str | None, str]]:
    """(context, msgid) of every translatable string in the report's code."""
    found = set()
    for path in REPORT_SOURCES:
        with path.open("rb") as source:
            for _, message, _, context in extract_from_file(
                "python", source.name, keywords=KEYWORDS
            ):
                msgid = message[0] if isinstance(message, tuple) else message
                found.add((context, msgid))
    return found


def test_every_string_of_the_report_has_a_russian_translation():
    with RU_PO.open("rb") as po:
        catalog = read_po(po)
    found = report_messages()
    assert len(found) > 20, "the extraction found nothing: it, not the catalog, is broken"

    missing = sorted(
        msgid
        for context, msgid in found
        if not (message := catalog.get(msgid, context=context))
        or message.fuzzy
        or not all(message.string if isinstance(message.string, tuple) else [message.string])
    )
    assert not missing, f"not translated in {RU_PO}: {missing}"


def test_the_compiled_catalog_matches_its_po_file():
    """The .mo is built by ops/scripts/compile-catalogs.sh (make run, make test,
    bootstrap, the image); run it after editing a .po file."""
    assert RU_MO.exists(), f"{RU_MO} is missing: run ops/scripts/compile-catalogs.sh"
    with RU_PO.open("rb") as po, RU_MO.open("rb") as mo:
        source, compiled = read_po(po), read_mo(mo)
    assert entries(source) == entries(compiled), (
        f"{RU_MO} is stale: run ops/scripts/compile-catalogs.sh"
    )


def entries(catalog) -> set[tuple]:
    def hashable(value):
        return value if isinstance(value, str) else tuple(value)

    return {(m.context, hashable(m.id), hashable(m.string)) for m in catalog if m.id}


def test_the_catalogs_are_never_committed():
    assert "*.mo" in (REPO / ".gitignore").read_text().split()
    assert "**/*.mo" in (REPO / ".dockerignore").read_text().split()


# Amounts that exercise grouping, rounding to cents, zero and negative zero.
AMOUNTS = [
    Decimal(text)
    for text in [
        *("0", "-0.00", "0.004", "-0.004", "0.005", "1", "-1", "12.5", "999.995"),
        *("1000", "-1234.56", "1234567.891", "-98765432.10", "1000000000000.01"),
    ]
]


@pytest.mark.parametrize("language", [code for code, _ in django_settings.LANGUAGES])
def test_amounts_read_exactly_as_babel_writes_them_in_every_language(language):
    locale = Locale.parse(translation.to_locale(language))
    plain, signed = parse_pattern("#,##0.00"), parse_pattern("+#,##0.00;-#,##0.00")
    with translation.override(language):
        for value in AMOUNTS:
            cents = to_money(value)
            assert formats.amount(value) == plain.apply(cents, locale)
            assert formats.change(value) == (signed if cents else plain).apply(cents, locale)
            for currency in ("USD", "RUB", "EUR"):
                expected = format_currency(
                    cents,
                    currency,
                    format=pgettext("amount with currency, a Babel pattern", "#,##0.00 ¤¤"),
                    locale=locale,
                    currency_digits=False,
                )
                assert formats.money(value, currency) == expected
