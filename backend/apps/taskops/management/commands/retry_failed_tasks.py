"""manage.py retry_failed_tasks [--task-name NAME] [--since 2h] [--dry-run]
[--confirm-possible-duplicates]"""

import argparse
import datetime as dt
import re

from django.core.management.base import BaseCommand
from django.utils import timezone

from apps.taskops.arguments import stored_call
from apps.taskops.errors import RetryRefused
from apps.taskops.selectors import describe_work, failed_results, why_handled
from apps.taskops.services import plan_retry, retry_failed_task
from core.operator_name import operator_name

UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
# Skipped failures named in the last line; a month's failures (results are kept 30 days)
# would bury it.
NAMED_AT_MOST = 20


def age(text: str) -> dt.timedelta:
    """'90s', '30m', '2h', '7d' as a timedelta."""
    match = re.fullmatch(r"(\d+)([smhd])", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an age: use a number and a unit, like 30m, 2h or 7d"
        )
    return dt.timedelta(**{UNITS[match[2]]: int(match[1])})


class Command(BaseCommand):
    help = (
        "Send failed tasks still needing someone again with their arguments, to the queue "
        "their route gives. Prints each one, then each failure skipped and why (refused, or "
        "already handled: retried, or settled since)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--task-name", help="Only this task, e.g. apps.mailing.tasks.send_email_delivery"
        )
        parser.add_argument("--since", type=age, help="Only failures newer than this: 30m, 2h, 7d")
        parser.add_argument(
            "--dry-run", action="store_true", help="Print what would be retried; change nothing"
        )
        parser.add_argument(
            "--confirm-possible-duplicates",
            action="store_true",
            help="Also retry tasks that may repeat what already happened (an email whose last "
            "send may have reached the provider); without it they are refused with the reason",
        )

    def handle(
        self,
        *args,
        task_name=None,
        since=None,
        dry_run=False,
        confirm_possible_duplicates=False,
        **options,
    ):
        failures = list(
            failed_results(
                task_name=task_name,
                since=timezone.now() - since if since else None,
                handled_too=True,
            )
        )
        works = describe_work(stored_call(result) for result in failures)
        who = f"{operator_name()} (manage.py retry_failed_tasks)"
        retried = 0
        refused, handled = [], []
        for result, work in zip(failures, works, strict=True):
            named = f"{result.task_id[:8]} {(result.task_name or '?').rsplit('.', 1)[-1]}"
            named += f" ({work.text})" if work.text else ""
            if result.handled:
                handled.append(f"{named}: {why_handled(result, work)}")
                continue
            try:
                if dry_run:
                    plan = plan_retry(result)
                    line = f"would retry {result.task_name} {result.task_id}"
                    if plan.warning:
                        line += f" (needs --confirm-possible-duplicates: {plan.warning})"
                    args, kwargs = plan.args, plan.kwargs
                else:
                    retry = retry_failed_task(
                        result, retried_by_name=who, confirmed=confirm_possible_duplicates
                    )
                    line = f"retried {retry.task_name} {result.task_id} -> {retry.new_task_id}"
                    args, kwargs = retry.args, retry.kwargs
            except RetryRefused as exc:
                refused.append(f"{named}: {exc}")
                self.stderr.write(f"{'would not retry' if dry_run else 'not retried'}: {exc}")
            else:
                retried += 1
                self.stdout.write(f"{line} args={args} kwargs={kwargs}")
        self.stdout.write(summary(retried, refused + handled, dry_run=dry_run))


def summary(retried: int, skipped: list[str], *, dry_run: bool) -> str:
    """The last line: how many were retried, and each one skipped with why (the refused
    first: those need someone; then the failures already handled)."""
    line = f"{'would retry' if dry_run else 'retried'} {retried} task(s), "
    line += f"{'would skip' if dry_run else 'skipped'} {len(skipped)}"
    if not skipped:
        return line
    line += ": " + "; ".join(skipped[:NAMED_AT_MOST])
    if len(skipped) > NAMED_AT_MOST:
        line += f"; and {len(skipped) - NAMED_AT_MOST} more (narrow with --since or --task-name)"
    return line
