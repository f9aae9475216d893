"""What the admin shows of owed work: a filter and an age column, shared by the
report requests' and the email deliveries' lists."""

from django.contrib import admin
from django.utils import timezone
from django.utils.timesince import timesince


class OwedWorkFilter(admin.SimpleListFilter):
    """Owed / stalled rows, as the model admin's `owed()` and `stalled()` select them."""

    title = "owed work"
    parameter_name = "owed"

    def __init__(self, request, params, model, model_admin):
        self.model_admin = model_admin
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin):
        return [("owed", "Still owed"), ("stalled", "Stalled: nothing is moving it")]

    def queryset(self, request, queryset):
        selected = {"owed": self.model_admin.owed, "stalled": self.model_admin.stalled}
        choice = selected.get(self.value())
        return queryset.filter(pk__in=choice().values("pk")) if choice else queryset


@admin.display(description="age", ordering="created_at")
def age(obj) -> str:
    return timesince(obj.created_at, timezone.now())
