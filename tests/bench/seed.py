"""Bulk seeding for the bench: `python -m tests.bench.seed MANAGERS REPS DEALS [TAG]`.

Each manager gets one team of REPS reps (members since 2020) and DEALS deals spread
over them and over last month, each with its commission, statuses in turn. Written
with bulk_create, not through the services (tests/faults/seed.py does that, one
manager at a time): 100,000 managers must take seconds, not an hour. The rows are
the same ones the services write.

`seed_sent_deliveries` (in the caller's process): emails the provider has accepted,
for the webhook row's events to be about.
"""

import datetime as dt
import os
import sys
import uuid
from decimal import Decimal

BATCH = 5000
RATE = Decimal("10.00")


def seed_teams(count: int, reps: int, deals: int, tag: str = "bench") -> list[int]:
    """Seed `count` managers with their teams; return the managers' ids."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from apps.commission.models import Commission, Team
    from apps.commission.periods import default_period

    User = get_user_model()
    period = default_period()
    days = (period.end - period.start).days
    statuses = Commission.Status.values

    def user(name: str, first: str = "", last: str = "") -> "User":
        email = f"{name}@bench.example.com"
        return User(username=name, email=email, first_name=first, last_name=last, password="!")

    with transaction.atomic():
        managers = User.objects.bulk_create(
            [user(f"{tag}-m{n}", "Manager", str(n)) for n in range(count)], batch_size=BATCH
        )
        teams = Team.objects.bulk_create(
            [
                Team(name=f"{tag} team {n}", manager=manager, commission_rate=RATE)
                for n, manager in enumerate(managers)
            ],
            batch_size=BATCH,
        )
        # Teams per round, so that no round holds much more than BATCH rows in memory.
        step = max(1, BATCH // max(1, reps + deals))
        for offset in range(0, count, step):
            _seed_members_and_deals(
                teams[offset : offset + step],
                reps,
                deals,
                tag,
                offset,
                period,
                days,
                statuses,
                user,
                settings,
            )
    return [manager.pk for manager in managers]


def _seed_members_and_deals(teams, reps, deals, tag, offset, period, days, statuses, user, conf):
    from django.contrib.auth import get_user_model

    from apps.commission.models import Commission, Deal, TeamMembership

    if not reps:
        return
    rep_users = get_user_model().objects.bulk_create(
        [
            user(f"{tag}-r{offset + t}-{r}", "Rep", f"{offset + t}-{r}")
            for t in range(len(teams))
            for r in range(reps)
        ],
        batch_size=BATCH,
    )
    TeamMembership.objects.bulk_create(
        [
            TeamMembership(team=team, rep=rep_users[t * reps + r], joined_on=dt.date(2020, 1, 1))
            for t, team in enumerate(teams)
            for r in range(reps)
        ],
        batch_size=BATCH,
    )
    made = Deal.objects.bulk_create(
        [
            Deal(
                rep=rep_users[t * reps + d % reps],
                team=team,
                amount=Decimal(1000 + 25 * (d % 40)),
                currency=conf.COMMISSION_CURRENCY,
                closed_on=period.start + dt.timedelta(days=d % days),
                external_ref=f"{tag}-{offset + t}-{d}",
            )
            for t, team in enumerate(teams)
            for d in range(deals)
        ],
        batch_size=BATCH,
    )
    Commission.objects.bulk_create(
        [
            Commission(
                deal=deal,
                rep=deal.rep,
                amount=deal.amount * RATE / 100,
                rate=RATE,
                status=statuses[n % len(statuses)],
                earned_on=deal.closed_on,
            )
            for n, deal in enumerate(made)
        ],
        batch_size=BATCH,
    )


def seed_sent_deliveries(count: int, tag: str = "bench") -> list[dict]:
    """`count` monthly-report deliveries as the email worker leaves them once the
    provider accepted them (status sent, its message id); return each one's `To`,
    `Metadata` and message id, what the provider's webhook carries back."""
    from django.utils import timezone

    from apps.commission.periods import default_period
    from apps.mailing.models import EmailDelivery

    period, now = str(default_period()), timezone.now()
    rows = [
        EmailDelivery(
            idempotency_key=f"{tag}-report:{n}:{period}",
            to_email=f"{tag}-m{n}@bench.example.com",
            subject=f"Commission report {period}",
            body_text="(the report)",
            metadata={"manager_id": str(n), "period": period},
            status=EmailDelivery.Status.SENT,
            provider="postmark",
            provider_message_id=str(uuid.uuid4()),
            attempts=1,
            next_attempt_at=None,
            sent_at=now,
        )
        for n in range(count)
    ]
    EmailDelivery.objects.bulk_create(rows, batch_size=BATCH)
    return [
        {"To": row.to_email, "Metadata": row.metadata, "MessageID": row.provider_message_id}
        for row in rows
    ]


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
    import django

    django.setup()
    count, reps, deals = (int(value) for value in sys.argv[1:4])
    tag = sys.argv[4] if len(sys.argv) > 4 else "bench"
    seed_teams(count, reps, deals, tag)
    print(f"seeded {count} managers with {reps} reps and {deals} deals each")


if __name__ == "__main__":
    main()
