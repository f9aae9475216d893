"""Admin login throttling with django-axes: whose address a request is, and two limits.

Both hooks are axes settings made for this (AXES_CLIENT_IP_CALLABLE, AXES_HANDLER):
https://django-axes.readthedocs.io/en/latest/4_configuration.html
"""

import ipaddress

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, with settings.TRUSTED_PROXY_COUNT reverse proxies in front.

    Each proxy appends the address it received the request from to X-Forwarded-For, so
    with N proxies the client is the N-th entry from the right: the one the outermost
    proxy wrote. Entries further left came from the client and are never read. With no
    proxy (0), or a request that did not pass every proxy (a shorter header), it is the
    connection's own address, REMOTE_ADDR.

    axes' django-ipware route (AXES_IPWARE_PROXY_COUNT) was not taken: ipware 8 counts
    only the proxies listed inside the header, one fewer than stand in front (a count of 1
    behind one proxy gave no address at all), and in its default strict mode a header with
    an extra, client-written entry falls back to the proxy's own address.
    """
    remote_addr = request.META.get("REMOTE_ADDR")
    count = settings.TRUSTED_PROXY_COUNT
    if not count:
        return remote_addr
    header = request.META.get("HTTP_X_FORWARDED_FOR", "")
    forwarded = [hop.strip() for hop in header.split(",")] if header else []
    if len(forwarded) < count:
        return remote_addr
    candidate = forwarded[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        # A proxy that writes something else (a port, "unknown"): the connection's
        # address is at least not the client's choice.
        return remote_addr


class LoginThrottleHandler(AxesDatabaseHandler):
    """axes' database handler with a second, higher limit per address.

    axes counts failures per AXES_LOCKOUT_PARAMETERS (here user name and address) and has
    one limit for all of them. Password spraying (one guess each for many user names)
    never reaches it per name, so an address whose failures over every name reach
    settings.LOGIN_ADDRESS_FAILURE_LIMIT within the cool-off is treated as at the limit
    for any name. Its rows are the ones axes already keeps; a successful login still
    resets only its own user name's count from that address, so one known password
    cannot wipe an address's record.
    """

    def get_failures(self, request, credentials: dict | None = None) -> int:
        failures = super().get_failures(request, credentials)
        from_address = AccessAttempt.objects.filter(
            ip_address=request.axes_ip_address,
            attempt_time__gte=get_cool_off_threshold(request),
        ).aggregate(total=Sum("failures_since_start"))["total"]
        if (from_address or 0) >= settings.LOGIN_ADDRESS_FAILURE_LIMIT:
            return max(failures, get_failure_limit(request, credentials))
        return failures
