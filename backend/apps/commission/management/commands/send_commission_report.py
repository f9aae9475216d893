import uuid

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from kombu.exceptions import OperationalError as BrokerError

from apps.commission.report import ReportRequestError, load_report_request
from apps.commission.tasks import generate_and_send_commission_report


def find_user(reference: str):
    """A user by id, email (case-insensitive) or username."""
    users = get_user_model().objects
    if reference.isdigit():
        matches = users.filter(pk=int(reference))
    elif "@" in reference:
        matches = users.filter(email__iexact=reference)
    else:
        matches = users.filter(username=reference)
    found = list(matches[:2])
    if not found:
        raise CommandError(f"No user matches {reference!r} (give a username, an email or an id).")
    if len(found) > 1:
        raise CommandError(f"Several users have the email {reference!r}; give the username or id.")
    return found[0]


class Command(BaseCommand):
    help = "Queue a manager's commission report email on the reports queue and print the task id."

    def add_arguments(self, parser):
        parser.add_argument(
            "--manager", required=True, help="The manager's username, email address or user id."
        )
        parser.add_argument(
            "--period", help="Calendar month YYYY-MM; default: last month in TIME_ZONE."
        )
        parser.add_argument(
            "--resend",
            action="store_true",
            help="Email another copy even if this report was already sent.",
        )

    def handle(self, *args, manager, period, resend, **options):
        user = find_user(manager)
        try:
            user, period_ = load_report_request(user.pk, period)
        except ReportRequestError as exc:
            raise CommandError(str(exc)) from exc
        try:
            result = generate_and_send_commission_report.delay(
                user.pk, str(period_), resend_key=uuid.uuid4().hex if resend else None
            )
        except BrokerError as exc:
            raise CommandError(f"Could not reach the Celery broker: {exc}") from exc
        self.stdout.write(
            f"Queued the {period_} commission report for {user.username} <{user.email}>: "
            f"task {result.id}"
        )
