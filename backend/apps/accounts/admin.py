from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

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
