"""A record's period as a link to the operator's month page (apps.commission.month_admin):
shared by the report requests', stored reports' and email deliveries' admins. Reversed
by URL name, so that mailing needs nothing from commission."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html


def month_url(period: str) -> str:
    return reverse("admin_month", args=[period])


@admin.display(description="period", ordering="period")
def period_link(obj):
    if not obj.period:
        return "-"
    return format_html('<a href="{}">{}</a>', month_url(obj.period), obj.period)
