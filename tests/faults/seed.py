"""Seed N managers into the database of DATABASE_URL: `python -m tests.faults.seed N`.

Each manager has a distinct email address, one team, two reps and three deals last
month, written through the product's services as production writes them.
"""

import datetime as dt
import os
import sys
from decimal import Decimal

REPS_PER_TEAM = 2
DEALS_PER_TEAM = 3


def seed(count: int) -> None:
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from apps.commission.models import Team
    from apps.commission.periods import default_period
    from apps.commission.services import join_team, record_deal

    users = get_user_model().objects
    period = default_period()
    with transaction.atomic():
        for number in range(count):
            tag = f"{number:04d}"
            manager = users.create_user(
                f"manager{tag}",
                email=f"manager{tag}@faults.example.com",
                first_name="Manager",
                last_name=tag,
            )
            team = Team.objects.create(
                name=f"Faults team {tag}", manager=manager, commission_rate=Decimal("10.00")
            )
            reps = []
            for rep_number in range(REPS_PER_TEAM):
                rep = users.create_user(
                    f"rep{tag}-{rep_number}", email=f"rep{tag}-{rep_number}@faults.example.com"
                )
                join_team(rep, team, dt.date(2020, 1, 1))
                reps.append(rep)
            for deal_number in range(DEALS_PER_TEAM):
                record_deal(
                    rep=reps[deal_number % REPS_PER_TEAM],
                    amount=Decimal(1000 + 250 * deal_number),
                    closed_on=period.start + dt.timedelta(days=deal_number),
                    external_ref=f"faults-{tag}-{deal_number}",
                )


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
    import django

    django.setup()
    count = int(sys.argv[1])
    seed(count)
    print(f"seeded {count} managers")


if __name__ == "__main__":
    main()
