from django.conf import settings
from django.db import models
from django.utils import timezone


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    RETRYING = "retrying", "Waiting to retry"
    # The last attempt may have reached the provider (a timeout after the request
    # went out, a worker killed mid-call): wait for the provider's event, then send.
    UNCONFIRMED = "unconfirmed", "Outcome unknown (may have left)"
    SENT = "sent", "Sent (accepted by the provider)"
    DELIVERED = "delivered", "Delivered"
    DEFERRED = "deferred", "Deferred by the receiving server"
    BOUNCED = "bounced", "Bounced"
    COMPLAINED = "complained", "Marked as spam"
    REJECTED = "rejected", "Rejected by the provider"
    FAILED = "failed", "Failed"
    # An operator ended it (apps.mailing.cancel): nothing sends it again by itself.
    CANCELLED = "cancelled", "Cancelled by an operator"
    # Not sent: its address is marked undeliverable (UndeliverableAddress). Correcting
    # the address, or an operator clearing the mark, queues it again.
    HELD = "held", "Held: the address is undeliverable"


class EmailDelivery(models.Model):
    """One email we owe somebody: what it says, whether it left, and what became of it.

    The idempotency key makes "send this" safe to ask twice: one row per key, and
    the sending task never sends a row that has already left.
    """

    Status = DeliveryStatus

    # How far a delivery's fate has gone: the one order of the statuses. Ours rank 0;
    # from 1 on, the provider has the message (it accepted it, or told us about it), and
    # it is never sent again. A tracking event only moves a delivery to a higher rank, so
    # a replayed or late event (a "delivered" after the "bounced") changes nothing.
    PROGRESS = {
        Status.QUEUED: 0,
        Status.SENDING: 0,
        Status.RETRYING: 0,
        Status.UNCONFIRMED: 0,
        Status.FAILED: 0,
        # Rank 0: a provider event that shows the message left after all still counts.
        Status.CANCELLED: 0,
        Status.HELD: 0,
        Status.SENT: 1,
        Status.DEFERRED: 2,
        Status.DELIVERED: 3,
        Status.BOUNCED: 4,
        Status.REJECTED: 4,
        Status.COMPLAINED: 5,
    }
    # Statuses in which the message is out of our hands: never send again.
    GONE = frozenset(status for status, rank in PROGRESS.items() if rank >= 1)
    # Outcomes that say something went wrong after it left (kept as the last error).
    PROBLEMS = frozenset({Status.DEFERRED, Status.BOUNCED, Status.REJECTED, Status.COMPLAINED})
    # Waiting for `next_attempt_at`: the sending task claims them once it has come.
    WAITING = frozenset({Status.QUEUED, Status.RETRYING, Status.UNCONFIRMED})
    # Statuses from which the sending task may (re)claim the row: a waiting one when it
    # is due, FAILED whenever asked (that is an operator's retry).
    SENDABLE = WAITING | {Status.FAILED}
    # Work the system still owes: each of these is due again at `next_attempt_at`
    # (SENDING: until the attempt ends), and the reconciler queues it again when the
    # broker has lost its message.
    OWED = WAITING | {Status.SENDING}
    # What an operator may cancel: whatever the sending task could claim. Not SENDING:
    # that attempt is at the provider now, and its outcome is recorded when it ends.
    CANCELLABLE = SENDABLE | {Status.HELD}
    # Statuses nothing sends again, not even an operator's retry: it left, or was
    # cancelled. Asking for the same email again sends nothing then.
    ENDED = GONE | {Status.CANCELLED}

    idempotency_key = models.CharField(max_length=200, unique=True)
    to_email = models.EmailField()
    # Whom it is for: an email that has not left goes to their address at the time.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="email_deliveries",
    )
    # The month it reports on (YYYY-MM) and, for a copy asked for again, its resend key
    # ("" for the original): what operators look deliveries up by.
    period = models.CharField(max_length=7, blank=True, db_index=True)
    resend_key = models.CharField(max_length=64, blank=True)
    readdressed = models.JSONField(
        default=list,
        blank=True,
        help_text="[{old, new, at, by}]: each time it was sent on to the user's new address.",
    )
    subject = models.CharField(max_length=255)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    attachments = models.JSONField(
        default=list, blank=True, help_text="[{filename, content, mimetype}] with text content."
    )
    metadata = models.JSONField(
        default=dict, blank=True, help_text="Passed to the provider and back in its webhooks."
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    provider = models.CharField(
        max_length=32,
        blank=True,
        help_text="The provider the last attempt went through (postmark, ...): only its "
        "tracking events count for this delivery.",
    )
    provider_message_id = models.CharField(max_length=255, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    next_attempt_at = models.DateTimeField(
        default=timezone.now,
        null=True,
        blank=True,
        help_text="When the system itself sends it next; empty when nothing is scheduled.",
    )
    sending_since = models.DateTimeField(null=True, blank=True)
    sending_task_id = models.CharField(
        max_length=255, blank=True, help_text="The task attempt that claimed it last."
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    tracked_at = models.DateTimeField(
        null=True, blank=True, help_text="When the provider's latest recorded event happened."
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "email deliveries"
        permissions = [("cancel_delivery", "Can cancel owed email deliveries")]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_owed_due"),
            models.Index(fields=["period", "status"], name="delivery_period_status"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=DeliveryStatus.values),
                name="email_delivery_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} to {self.to_email} ({self.status})"

    @property
    def has_left(self) -> bool:
        """Whether the provider has the message: sending it again would be a duplicate."""
        return self.status in self.GONE

    @property
    def has_ended(self) -> bool:
        """Whether nothing will send it again: it left, or an operator cancelled it."""
        return self.status in self.ENDED


class UndeliverableReason(models.TextChoices):
    BOUNCED = "bounced", "Hard bounce"
    COMPLAINED = "complained", "Marked as spam by the recipient"
    REFUSED = "refused", "Refused by the provider (suppressed or invalid)"


class UndeliverableAddress(models.Model):
    """An address the provider said not to send to again (a hard bounce, a spam
    complaint, a refusal): emails to it are held until an operator clears the mark or
    the user's address is corrected. Kept once cleared, as the record of what happened."""

    Reason = UndeliverableReason

    email = models.EmailField(db_index=True, help_text="Lower case.")
    reason = models.CharField(max_length=16, choices=Reason.choices)
    detail = models.TextField(blank=True, help_text="The provider's own words.")
    since = models.DateTimeField(default=timezone.now)
    delivery = models.ForeignKey(
        EmailDelivery,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The email whose bounce, complaint or refusal marked it.",
    )
    cleared_at = models.DateTimeField(null=True, blank=True)
    cleared_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-since"]
        verbose_name_plural = "undeliverable addresses"
        permissions = [("clear_undeliverableaddress", "Can clear undeliverable address marks")]
        constraints = [
            models.UniqueConstraint(
                fields=["email"],
                condition=models.Q(cleared_at__isnull=True),
                name="one_open_mark_per_address",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.get_reason_display().lower()} since {self.since:%Y-%m-%d})"
