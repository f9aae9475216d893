from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apps.commission.models import ReportRequest
from apps.commission.report.request import ReportRequestError, load_report_request
from apps.commission.selectors import ended_report_email
from apps.commission.services import request_report
from apps.commission.tasks import generate_and_send_commission_report
from core.operator_name import operator_name
from core.validators import parse_id


def find_user(reference: str):
    """A user by id, email (case-insensitive) or username."""
    users = get_user_model().objects
    # A number beyond the id column's range is no id: it is looked up as a username.
    if (user_id := parse_id(reference, users.model)) is not None:
        matches = users.filter(pk=user_id)
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
            user, month = load_report_request(user.pk, period)
        except ReportRequestError as exc:
            raise CommandError(str(exc)) from exc
        if not resend:
            already = ended_report_email(user, month)
            if already is not None:
                what = "already sent" if already.has_left else "cancelled"
                self.stdout.write(
                    f"The {month} commission report for {user.username} <{user.email}> was "
                    f"{what} (email delivery {already.pk}, {already.get_status_display()}"
                    f"{f', {already.sent_at:%Y-%m-%d %H:%M %Z}' if already.sent_at else ''}): "
                    "nothing queued. Use --resend to email another copy."
                )
                return
        sent = []
        request, queued = request_report(
            user,
            month,
            lambda *args: sent.append(generate_and_send_commission_report.delay(*args)),
            source=ReportRequest.Source.COMMAND,
            requested_by=f"{operator_name()} (manage.py send_commission_report)",
            resend=resend,
        )
        what = f"the {month} commission report for {user.username} <{user.email}>"
        if queued:
            self.stdout.write(f"Recorded report request {request.pk}.")
            self.stdout.write(f"Queued {what}: task {sent[0].id}")
            return
        self.stderr.write(
            f"Recorded {what} as request {request.pk}, but the Celery broker is unreachable "
            f"now: the reconciler queues it within {settings.RECONCILE_STALLED_AFTER}s of the "
            "broker coming back (see the log for the error)."
        )
