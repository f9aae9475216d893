from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from apps.mailing.readdress import readdress_owed
from apps.mailing.tasks import send_email_delivery

from .models import User


def _with_language(fieldsets, after: str):
    """Django's fieldsets (and their translated titles), with the language after `after`."""
    return tuple(
        (title, {**options, "fields": (*options["fields"], "language")})
        if after in options["fields"]
        else (title, options)
        for title, options in fieldsets
    )


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    # The language sits with the name and email: it is how the user is written to.
    fieldsets = _with_language(DjangoUserAdmin.fieldsets, after="email")
    add_fieldsets = _with_language(DjangoUserAdmin.add_fieldsets, after="username")
    list_display = (*DjangoUserAdmin.list_display, "language")
    list_filter = (*DjangoUserAdmin.list_filter, "language")

    def has_delete_permission(self, request, obj=None):
        # A user's admin log entries go with them (LogEntry.user cascades), and their
        # deals, reports and retries name them: deactivate an account instead.
        return False

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "email" in form.changed_data and obj.email:
            # The emails still owed to this user go to the corrected address (this
            # change's admin log entry records the address; each delivery's own entry and
            # record, the re-addressing).
            done = readdress_owed(obj, by=request.user, enqueue=send_email_delivery.delay)
            if done.readdressed:
                self.message_user(request, _readdressed_message(obj, done), messages.INFO)


def _readdressed_message(user, done) -> str:
    message = (
        f"{len(done.readdressed)} email(s) still owed to {user} now go to {user.email}"
        f" (delivery {', '.join(map(str, done.readdressed))})"
    )
    if done.queued:
        message += f"; queued to send now: {', '.join(map(str, done.queued))}"
    if done.still_held:
        message += (
            f"; still held, as {user.email} is marked undeliverable too: "
            f"{', '.join(map(str, done.still_held))}"
        )
    return message + "."
