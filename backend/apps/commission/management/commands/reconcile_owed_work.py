"""manage.py reconcile_owed_work [--dry-run]"""

from django.core.management.base import BaseCommand

from apps.commission.reconcile import reconcile_report_requests
from apps.commission.tasks import generate_and_send_commission_report
from apps.mailing.reconcile import reconcile_deliveries
from apps.mailing.tasks import email_backoff, send_at


class Command(BaseCommand):
    help = (
        "Queue again the reports and emails still owed whose message the broker lost, as "
        "beat does every minute; mark deliveries stuck sending as unconfirmed."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Print what would be done; change nothing"
        )

    def handle(self, *args, dry_run=False, **options):
        verb = "would queue again" if dry_run else "queued again"
        requests = reconcile_report_requests(
            generate_and_send_commission_report.delay, dry_run=dry_run
        )
        deliveries = reconcile_deliveries(send_at, email_backoff, dry_run=dry_run)
        self.stdout.write(f"report requests: {verb} {len(requests.requeued)} {requests.requeued}")
        self.stdout.write(
            f"email deliveries stuck sending: {'would mark' if dry_run else 'marked'} "
            f"{len(deliveries.unconfirmed)} unconfirmed {deliveries.unconfirmed}"
        )
        self.stdout.write(
            f"email deliveries: {verb} {len(deliveries.requeued)} {deliveries.requeued}"
        )
        if requests.broker_away or deliveries.broker_away:
            self.stderr.write(
                "The Celery broker is unreachable: the rest stays owed for the next round."
            )
