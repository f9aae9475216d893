"""Times in admin lists, short: "2026-12-07 13:46" in the server's time zone, which may
wrap between the date and the time and never inside either (the admin's own nowrap
class). The admin's default ("Dec. 7, 2026, 1:46 p.m.", never wrapped) takes twice the
width, and the lists that show several times must fit 1,400 px."""

from django.utils import timezone
from django.utils.html import format_html


def short_time(value):
    if not value:
        return "-"
    value = timezone.localtime(value)
    return format_html(
        '<span class="nowrap">{}</span> <span class="nowrap">{}</span>',
        f"{value:%Y-%m-%d}",
        f"{value:%H:%M}",
    )
