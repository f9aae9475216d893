"""A report as the workers leave it."""

from apps.commission.periods import default_period
from apps.commission.services import prepare_report_email
from apps.mailing.claims import record_sent
from apps.mailing.models import EmailDelivery


def email_the_report(team) -> EmailDelivery:
    """The month's report for the team's manager, built and sent, as the worker leaves it."""
    _, delivery = prepare_report_email(team.manager, default_period())
    record_sent(delivery.pk, "sent-message-id")
    return delivery
