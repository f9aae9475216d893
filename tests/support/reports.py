"""Managers to report to, and a report as the workers leave it."""

from apps.commission.periods import default_period
from apps.commission.services import prepare_report_email
from apps.mailing.claims import record_sent
from apps.mailing.models import EmailDelivery
from tests.factories import TeamFactory, add_rep


def email_the_report(team) -> EmailDelivery:
    """The month's report for the team's manager, built and sent, as the worker leaves it."""
    _, delivery = prepare_report_email(team.manager, default_period())
    record_sent(delivery.pk, "sent-message-id")
    return delivery


def make_managers(count: int) -> list[int]:
    """`count` managers, the first of them with two teams, and a rep who manages nothing."""
    teams = [TeamFactory() for _ in range(count)]
    TeamFactory(manager=teams[0].manager)
    add_rep(teams[0])
    return sorted(team.manager_id for team in teams)
