from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from core.validators import PlainTextValidator

MONEY = {"max_digits": 14, "decimal_places": 2}
RATE = {"max_digits": 5, "decimal_places": 2}


class Team(models.Model):
    """A sales team; its manager receives the team's commission report."""

    name = models.CharField(max_length=120, unique=True, validators=[PlainTextValidator()])
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="managed_teams"
    )
    commission_rate = models.DecimalField(
        **RATE, help_text="Percentage of the deal amount paid as commission, e.g. 7.50."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(commission_rate__gte=0) & Q(commission_rate__lte=100),
                name="team_rate_between_0_and_100",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class TeamMembership(models.Model):
    """A rep's time in a team; closed memberships are kept as history."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="memberships"
    )
    joined_on = models.DateField()
    left_on = models.DateField(null=True, blank=True)
    rate_override = models.DecimalField(
        **RATE,
        null=True,
        blank=True,
        help_text="This rep's own percentage in this team; empty means the team's rate.",
    )

    class Meta:
        ordering = ["team", "rep__username", "joined_on"]
        constraints = [
            # Overlapping closed periods are refused by apps.commission.services.join_team;
            # the database guarantees at most one open membership per rep.
            models.UniqueConstraint(
                fields=["rep"],
                condition=Q(left_on__isnull=True),
                name="one_open_membership_per_rep",
            ),
            models.CheckConstraint(
                condition=Q(left_on__isnull=True) | Q(left_on__gte=F("joined_on")),
                name="membership_leaves_after_joining",
            ),
            models.CheckConstraint(
                condition=Q(rate_override__isnull=True)
                | (Q(rate_override__gte=0) & Q(rate_override__lte=100)),
                name="membership_rate_between_0_and_100",
            ),
        ]

    def __str__(self) -> str:
        until = self.left_on.isoformat() if self.left_on else "now"
        return f"{self.rep} in {self.team} ({self.joined_on.isoformat()} - {until})"

    @property
    def effective_rate(self) -> Decimal:
        if self.rate_override is not None:
            return self.rate_override
        return self.team.commission_rate


class Deal(models.Model):
    """A closed deal, recorded once (by its external reference) in the deployment currency."""

    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="deals"
    )
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="deals")
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    closed_on = models.DateField(db_index=True)
    external_ref = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-closed_on", "external_ref"]
        indexes = [models.Index(fields=["team", "closed_on"])]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="deal_amount_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.external_ref} ({self.amount} {self.currency})"


class CommissionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    PAID = "paid", "Paid"


class Commission(models.Model):
    Status = CommissionStatus

    deal = models.OneToOneField(Deal, on_delete=models.CASCADE, related_name="commission")
    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="commissions"
    )
    amount = models.DecimalField(**MONEY)
    rate = models.DecimalField(**RATE)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    earned_on = models.DateField(db_index=True)

    class Meta:
        ordering = ["-earned_on"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gte=0), name="commission_amount_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(rate__gte=0) & Q(rate__lte=100),
                name="commission_rate_between_0_and_100",
            ),
            models.CheckConstraint(
                condition=Q(status__in=CommissionStatus.values),
                name="commission_status_valid",
            ),
        ]
        # Two decisions, two permissions: whoever pays needs no right to approve
        # (apps.commission.payouts moves the status, one step at a time).
        permissions = [
            ("approve_commission", "Can approve commissions"),
            ("pay_commission", "Can mark commissions paid"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} on {self.deal.external_ref} ({self.status})"


class CommissionReport(models.Model):
    """The latest report built for a manager and month, as it was emailed."""

    # PROTECT: deleting the manager must not take the record of what was emailed.
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="commission_reports"
    )
    period = models.CharField(max_length=7, help_text="Calendar month, YYYY-MM.")
    subject = models.CharField(max_length=255)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    data = models.JSONField(help_text="The report's numbers, Decimals as strings.")
    attachments = models.JSONField(
        default=list, blank=True, help_text="[{filename, content, mimetype}] as emailed."
    )
    generated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-period", "manager__username"]
        constraints = [
            models.UniqueConstraint(
                fields=["manager", "period"], name="one_report_per_manager_and_period"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.period} for {self.manager}"


class ReportSource(models.TextChoices):
    MONTHLY = "monthly", "Monthly schedule"
    COMMAND = "command", "Command"
    ADMIN = "admin", "Admin"


class ReportRequestStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    BUILT = "built", "Built (email recorded)"
    REFUSED = "refused", "Refused"


class ReportRequest(models.Model):
    """A report somebody asked for, owed until it is built and its email recorded.

    Every way of asking records one: the monthly schedule (one per manager and month:
    the unique constraint is what keeps a schedule that fires twice from queuing a
    manager twice), the command and the admin. The report task marks it built (or
    refused); one still queued long after it was last queued lost its message, and
    apps.commission.reconcile queues it again. Once built, the email is owed by its
    EmailDelivery.
    """

    Source = ReportSource
    Status = ReportRequestStatus

    # PROTECT: who asked for which report stays, whatever happens to the manager.
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="report_requests"
    )
    period = models.CharField(max_length=7, help_text="Calendar month, YYYY-MM.")
    resend_key = models.CharField(
        max_length=64, blank=True, help_text="Set when another copy was asked for."
    )
    source = models.CharField(max_length=16, choices=Source.choices)
    requested_by = models.CharField(max_length=255, blank=True)
    run_id = models.UUIDField(
        null=True, blank=True, help_text="The schedule run that claimed it (monthly only)."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(
        default=timezone.now, help_text="When a message for it was last queued."
    )
    requeues = models.PositiveIntegerField(
        default=0, help_text="How often the reconciler queued it again."
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    delivery = models.ForeignKey(
        "mailing.EmailDelivery",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["manager", "period"],
                condition=Q(source=ReportSource.MONTHLY),
                name="one_monthly_request_per_manager_and_period",
            ),
            models.CheckConstraint(
                condition=Q(status__in=ReportRequestStatus.values),
                name="report_request_status_valid",
            ),
        ]
        permissions = [("request_report", "Can email commission reports to managers")]
        indexes = [
            models.Index(fields=["status", "queued_at"], name="report_request_owed"),
            models.Index(fields=["period", "run_id"], name="report_request_run"),
        ]

    def __str__(self) -> str:
        copy = " (another copy)" if self.resend_key else ""
        return f"{self.period} for {self.manager_id}{copy}: {self.status}"
