import datetime as dt
import random
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from apps.commission.models import Commission, Deal, Team, TeamMembership
from apps.commission.periods import current_period
from apps.commission.services import join_team, record_deal
from apps.mailing.addresses import is_valid, user_address_error

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "commission-demo"  # noqa: S105  (development data only; refused in production)

# manager username -> (first, last, [(team, rate %, [rep usernames])])
MANAGERS = {
    "maria": (
        "Maria",
        "Ivanova",
        [
            ("Enterprise North", "7.50", ["anna", "boris", "chen", "dara"]),
            ("Enterprise South", "7.00", ["elif", "femi", "gosha"]),
        ],
    ),
    "daniel": ("Daniel", "Brooks", [("SMB", "10.00", ["hana", "ivan", "jules", "kemal", "lena"])]),
    "olga": ("Olga", "Smirnova", [("Partners", "5.00", ["marco", "nadia", "oskar"])]),
}
REP_NAMES = {
    "anna": ("Anna", "Petrova"),
    "boris": ("Boris", "Kuznetsov"),
    "chen": ("Chen", "Wei"),
    "dara": ("Dara", "Okafor"),
    "elif": ("Elif", "Yilmaz"),
    "femi": ("Femi", "Adeyemi"),
    "gosha": ("Georgy", "Volkov"),
    "hana": ("Hana", "Sato"),
    "ivan": ("Ivan", "Sokolov"),
    "jules": ("Jules", "Martin"),
    "kemal": ("Kemal", "Demir"),
    "lena": ("Lena", "Fischer"),
    "marco": ("Marco", "Rossi"),
    "nadia": ("Nadia", "Haddad"),
    "oskar": ("Oskar", "Berg"),
}
# The language each demo manager reads; the others get LANGUAGE_CODE.
MANAGER_LANGUAGES = {"olga": "ru"}
# A year and a month: every report of the last month has its whole 12-month trend.
MONTHS_OF_HISTORY = 13
# Anna earns more than her team's rate; Ivan moves from SMB to Enterprise North.
RATE_OVERRIDES = {"anna": Decimal("9.00")}
MOVER, MOVER_TO = "ivan", "Enterprise North"


class Command(BaseCommand):
    help = "Create an idempotent demo data set: managers, teams, reps, deals and commissions."

    def handle(self, *args, **options):
        if settings.IS_PRODUCTION:
            raise CommandError(
                "seed_demo makes demo users with a known password; not in production."
            )
        with transaction.atomic():
            created = self.seed()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready ({created} new deals). Admin login: "
                f"{ADMIN_USERNAME} / {ADMIN_PASSWORD}"
            )
        )
        self.print_managers()

    def print_managers(self) -> None:
        """The demo managers with their addresses as stored now (an operator may have
        changed them since the first seed), and any that a report would refuse."""
        managers = (
            get_user_model()
            .objects.filter(username__in=MANAGERS)
            .order_by("username")
            .only("username", "email", "first_name", "last_name")
        )
        self.stdout.write(
            "Managers: " + ", ".join(f"{user.username} <{user.email}>" for user in managers)
        )
        for user in managers:
            problem = user_address_error(user)
            if problem:
                self.stderr.write(
                    self.style.WARNING(f"Reports for {user.username} are refused: {problem}.")
                )

    def user(self, username, first, last, **extra):
        email = f"{username}@example.com"
        if not is_valid(email):  # every address that enters is checked, ours too
            raise CommandError(f"seed_demo would give {username} an invalid address: {email!r}")
        user, created = get_user_model().objects.get_or_create(
            username=username,
            defaults={"first_name": first, "last_name": last, "email": email, **extra},
        )
        if created:
            user.set_unusable_password()
            user.save()
        return user

    def seed(self) -> int:
        admin = get_user_model().objects.filter(username=ADMIN_USERNAME).first()
        if admin is None:
            get_user_model().objects.create_superuser(
                ADMIN_USERNAME, "admin@example.com", ADMIN_PASSWORD
            )

        this_month = current_period()
        first_month = this_month
        for _ in range(MONTHS_OF_HISTORY):
            first_month = first_month.previous()
        start = first_month.start
        teams = {}
        for username, (first, last, manager_teams) in MANAGERS.items():
            manager = self.user(username, first, last, **_language_of(username))
            for team_name, rate, reps in manager_teams:
                team, _ = Team.objects.get_or_create(
                    name=team_name, defaults={"manager": manager, "commission_rate": Decimal(rate)}
                )
                teams[team_name] = team
                for rep_name in reps:
                    rep = self.user(rep_name, *REP_NAMES[rep_name])
                    if not TeamMembership.objects.filter(rep=rep).exists():
                        join_team(rep, team, start, RATE_OVERRIDES.get(rep_name))

        mover = get_user_model().objects.get(username=MOVER)
        move_on = this_month.previous().start + dt.timedelta(days=14)
        if not TeamMembership.objects.filter(rep=mover, team=teams[MOVER_TO]).exists():
            join_team(mover, teams[MOVER_TO], move_on)

        return self.deals(start, timezone.localdate())

    def deals(self, start: dt.date, today: dt.date) -> int:
        rng = random.Random(20250914)  # the same data set on every machine
        created = 0
        reps = (
            get_user_model()
            .objects.filter(memberships__isnull=False)
            .annotate(joined_on=Min("memberships__joined_on"))
            .order_by("username")
        )
        for rep in reps:
            # A demo seeded when it had less history keeps its reps' join dates.
            day = max(start, rep.joined_on)
            number = 0
            while day <= today:
                day += dt.timedelta(days=rng.randint(3, 9))
                if day > today:
                    break
                number += 1
                ref = f"DEMO-{rep.username.upper()}-{number:03d}"
                amount = Decimal(rng.randint(100_000, 5_000_000)) / 100
                if Deal.objects.filter(external_ref=ref).exists():
                    continue
                age_in_days = (today - day).days
                status = (
                    Commission.Status.PAID
                    if age_in_days > 60
                    else Commission.Status.APPROVED
                    if age_in_days > 20 and number % 3
                    else Commission.Status.PENDING
                )
                record_deal(rep=rep, amount=amount, closed_on=day, external_ref=ref, status=status)
                created += 1
        return created


def _language_of(username: str) -> dict[str, str]:
    language = MANAGER_LANGUAGES.get(username)
    return {"language": language} if language else {}
