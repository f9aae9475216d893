"""Operators see exactly what managers got (core/admin_email_preview.py): on an email
delivery's and a stored report's admin page, the HTML as sent in a sandboxed frame under a
policy of its own, the text as it reads, the attachments to download; each behind the
model's view permission, and none of it changes anything."""

import pytest
from django.urls import reverse
from django.utils.html import escape

from apps.commission.models import CommissionReport
from apps.commission.periods import Period
from apps.commission.services import prepare_report_email
from apps.mailing.models import EmailDelivery
from apps.mailing.services import create_delivery
from tests.factories import TeamFactory, add_rep
from tests.support.admin import staff_user

pytestmark = pytest.mark.django_db

VIEW = {
    EmailDelivery: "mailing.view_emaildelivery",
    CommissionReport: "commission.view_commissionreport",
}
MODELS = pytest.mark.parametrize("model", list(VIEW), ids=lambda model: model.__name__)
# Every part the frame's policy must say, and nothing it must allow beyond them.
PREVIEW_POLICY = {
    "default-src": "'none'",
    "style-src": "'unsafe-inline'",
    "img-src": "data:",
    "base-uri": "'none'",
    "form-action": "'none'",
    "frame-ancestors": "'self'",
    "sandbox": "",
}
ODD_ATTACHMENT = {"filename": "Отчёт «май».html", "content": "<b>ё</b>", "mimetype": "text/html"}


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def sent():
    """The report emailed to a manager: {model: its row}, with HTML that is not plain ASCII
    and, last, an attachment of a type the browser must not be handed as such."""
    team = TeamFactory()
    add_rep(team)
    report, delivery = prepare_report_email(team.manager, Period(2025, 9))
    for row in (report, delivery):
        html = row.body_html.replace("</body>", "<p>Ольга — 1 000,00 €</p>\r\n</body>")
        assert html != row.body_html
        row.body_html = html
        row.attachments = [*row.attachments, ODD_ATTACHMENT]
        row.save()
    return {CommissionReport: report, EmailDelivery: delivery}


@pytest.fixture
def viewer(client, request):
    """A client logged in as staff with exactly the view permission of the test's model."""
    client.force_login(staff_user(VIEW[request.getfixturevalue("model")]))
    return client


def policy(response) -> dict[str, str]:
    directives = (
        part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";")
    )
    return {parts[0]: parts[1] if len(parts) > 1 else "" for parts in directives}


@MODELS
def test_the_page_shows_the_email_as_sent_to_a_view_only_user(viewer, sent, model):
    row = sent[model]

    page = viewer.get(url(model, "change", row.pk)).content.decode()

    frame = f'src="{url(model, "preview", row.pk)}"'
    assert (
        f'<iframe sandbox="" class="sent-email-html" title="The HTML body as stored" {frame}>'
        in page
    )
    assert f'<pre class="sent-email-text">{escape(row.body_text)}</pre>' in page
    assert len(row.attachments) > 1
    for index, attachment in enumerate(row.attachments):
        link = f'<a href="{url(model, "attachment", row.pk, index)}">'
        assert f"{link}{escape(attachment['filename'])}</a>" in page
    # Not the raw JSON, nor the HTML source outside the frame.
    assert escape('"filename":') not in page
    assert "Ольга — 1 000,00 €" not in page
    # Sized by a static file: the admin's policy refuses style attributes.
    assert '<link href="/static/admin/sent_email.css" media="all" rel="stylesheet">' in page


@MODELS
def test_the_preview_is_the_stored_html_byte_for_byte_under_its_own_policy(viewer, sent, model):
    row = sent[model]

    response = viewer.get(url(model, "preview", row.pk))

    assert response.status_code == 200
    assert response.content == row.body_html.encode("utf-8")
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert policy(response) == PREVIEW_POLICY
    assert response["X-Frame-Options"] == "SAMEORIGIN"


def test_the_rest_of_the_admin_keeps_the_sites_policy(admin_client, sent):
    page = admin_client.get(url(EmailDelivery, "change", sent[EmailDelivery].pk))

    assert policy(page)["frame-ancestors"] == "'none'"
    assert policy(page)["default-src"] == "'self'"
    assert page["X-Frame-Options"] == "DENY"


@MODELS
def test_an_attachment_downloads_as_it_was_stored(viewer, sent, model):
    stored = sent[model].attachments[0]

    response = viewer.get(url(model, "attachment", sent[model].pk, 0))

    assert response.status_code == 200
    assert response.content == stored["content"].encode("utf-8")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="{stored["filename"]}"'


@MODELS
def test_an_attachment_of_any_other_type_downloads_as_bytes(viewer, sent, model):
    last = len(sent[model].attachments) - 1

    response = viewer.get(url(model, "attachment", sent[model].pk, last))

    assert response.content == ODD_ATTACHMENT["content"].encode("utf-8")
    assert response["Content-Type"] == "application/octet-stream; charset=utf-8"
    assert response["Content-Disposition"] == (
        "attachment; filename*=utf-8''%D0%9E%D1%82%D1%87%D1%91%D1%82%20%C2%AB%D0%BC%D0%B0"
        "%D0%B9%C2%BB.html"
    )


@MODELS
@pytest.mark.parametrize("view", ["change", "preview", "attachment"])
def test_staff_without_the_view_permission_is_refused(client, sent, model, view):
    other = next(permission for key, permission in VIEW.items() if key is not model)
    client.force_login(staff_user(other))
    args = (sent[model].pk, 0) if view == "attachment" else (sent[model].pk,)

    assert client.get(url(model, view, *args)).status_code == 403
    # Refused before the row is looked up: a 404 would tell what exists.
    missing = (404404, 0) if view == "attachment" else (404404,)
    if view != "change":
        assert client.get(url(model, view, *missing)).status_code == 403


@MODELS
@pytest.mark.parametrize("view", ["preview", "attachment"])
def test_anonymous_is_sent_to_the_login(client, sent, model, view):
    path = url(model, view, *((sent[model].pk, 0) if view == "attachment" else (sent[model].pk,)))

    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('admin:login')}?next={path}"


@MODELS
def test_an_unknown_row_or_attachment_is_404(viewer, sent, model):
    pk, count = sent[model].pk, len(sent[model].attachments)

    assert viewer.get(url(model, "attachment", pk, count)).status_code == 404
    assert viewer.get(url(model, "attachment", pk + 1, 0)).status_code == 404
    assert viewer.get(url(model, "preview", pk + 1)).status_code == 404
    assert viewer.get(url(model, "preview", "not-an-id")).status_code == 404
    # The row is there, and answers.
    assert viewer.get(url(model, "attachment", pk, count - 1)).status_code == 200


@MODELS
@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_the_views_change_nothing(admin_client, sent, model, method):
    row = sent[model]
    before = model.objects.filter(pk=row.pk).values().get()

    for path in (url(model, "preview", row.pk), url(model, "attachment", row.pk, 0)):
        assert getattr(admin_client, method)(path).status_code == 405
    assert model.objects.filter(pk=row.pk).values().get() == before


def test_an_older_report_says_no_attachments_were_stored(admin_client, sent):
    report = sent[CommissionReport]
    CommissionReport.objects.filter(pk=report.pk).update(attachments=[])

    page = admin_client.get(url(CommissionReport, "change", report.pk)).content.decode()

    assert '<div class="readonly">none stored</div>' in page
    assert admin_client.get(url(CommissionReport, "attachment", report.pk, 0)).status_code == 404


def test_a_text_only_email_has_no_frame(admin_client):
    delivery, _ = create_delivery(
        idempotency_key="plain:1",
        to_email="a@example.com",
        subject="Plain",
        body_text="Hi\n  there",
    )

    page = admin_client.get(url(EmailDelivery, "change", delivery.pk)).content.decode()

    assert "<iframe" not in page
    assert '<div class="readonly">none: the email was text only</div>' in page
    assert '<pre class="sent-email-text">Hi\n  there</pre>' in page
    assert admin_client.get(url(EmailDelivery, "preview", delivery.pk)).status_code == 404
