"""Flower: its /metrics asks for the same credentials as every other Flower page; its
Broker page asks every Sentinel (ask_every_sentinel, below).

Why: Flower serves its Prometheus metrics at /metrics without authentication, even with
basic auth on: the handler (flower.views.monitor.Metrics) lost its
`@tornado.web.authenticated` in mher/flower#1129, for scrapers that send no credentials,
and Flower's authentication page lists it as exempt. Asking for it to follow the
authentication again is mher/flower#1342; for a way to turn it off, mher/flower#1379.
Flower 2.2.0 has no option for either. The metrics name every task and worker and count
their runs and failures: what anyone on the network, or a web page through DNS
rebinding, should not read without the password.

How: the /metrics route serves a subclass whose `get` carries Tornado's public
`tornado.web.authenticated`, the decorator on Flower's other pages, so it answers what
they answer (401 without the right basic-auth credentials). A Prometheus scraper sends
the same credentials (`basic_auth` in its scrape_config). /healthcheck stays open: it
tells nothing but "OK", and container health checks call it without credentials.

Versions: checked against flower 2.2.0 (the route list flower.urls.handlers, which
flower.app builds its application from, and the handler class). On any other version
Flower refuses to start instead of falling back to Flower's own behaviour, because that
behaviour is the open endpoint: a security fix that quietly stops applying after an
upgrade is worse than a loud failure. Upgrades come through requirements/*.txt, so the
suite's Flower tests fail first, with this message: check whether the new version still
serves /metrics without credentials (tests/patches/test_flower.py asserts it of the shipped
handler), then add the version below or drop this patch.

A second patch, `ask_every_sentinel`: Flower's Broker page asks every Sentinel.

Why: through Sentinel, the Broker page and /api/queues/length ask only the first Sentinel
of the broker URL where the master is, so they fail while that one Sentinel is down and
the workers carry on through the others. Flower builds that page's client from the URL
Celery reports, which is its first part only (kombu keeps the rest as failover
alternatives), and flower/utils/broker.py's RedisSentinel._get_redis_client gives
redis-py's Sentinel that one host, although its own comment says "get all sentinel hosts
from Celery App config". No upstream issue was found.

How: a subclass of Flower's RedisSentinel, which `flower.utils.broker.Broker` builds for
a sentinel:// URL, rebuilds the client redis-py's way with the same options and every
Sentinel of the configured URL; for a URL whose first Sentinel is not the configured
one, it keeps Flower's client.

Versions: checked against flower 2.2.0. On any other version it changes nothing and
logs one warning: Flower's own behaviour is a page that needs the first Sentinel, not a
hole. tests/patches/test_flower.py shows the shipped behaviour (when that test fails,
drop this patch).
"""

import logging
from importlib.metadata import version

import tornado.web

from core.redis_connection import is_sentinel, sentinel_target

logger = logging.getLogger(__name__)

CHECKED_VERSIONS = frozenset({"2.2.0"})
SENTINEL_CHECKED_VERSIONS = frozenset({"2.2.0"})
METRICS_PATH = r"/metrics"


def _authenticated_metrics(shipped: type[tornado.web.RequestHandler]):
    class AuthenticatedMetrics(shipped):
        """Flower's /metrics handler behind Flower's own authentication."""

        get = tornado.web.authenticated(shipped.get)

    return AuthenticatedMetrics


def apply(installed: str | None = None) -> type[tornado.web.RequestHandler]:
    """Route /metrics to the authenticated handler (once); the handler it routes to.

    Raises RuntimeError, so Flower does not start, on a Flower version this patch was
    not checked against or whose routes no longer look as it expects.
    """
    installed = installed or version("flower")
    if installed not in CHECKED_VERSIONS:
        raise RuntimeError(
            f"flower {installed} is installed; backend/patches/flower.py was "
            f"checked against {', '.join(sorted(CHECKED_VERSIONS))} only and keeps Flower "
            "from starting rather than serve /metrics without authentication: read the "
            "patch's notes, check the new version, then list it there or drop the patch"
        )
    from flower import urls
    from flower.views.monitor import Metrics

    # flower.app builds its application from this very list (imported by reference).
    routes = [
        index
        for index, route in enumerate(urls.handlers)
        if isinstance(route, tuple) and route[0] == METRICS_PATH
    ]
    if len(routes) != 1:
        raise RuntimeError(f"flower {installed}: {len(routes)} {METRICS_PATH} routes, not one")
    (index,) = routes
    path, handler, *rest = urls.handlers[index]
    if handler is Metrics:
        handler = _authenticated_metrics(Metrics)
        urls.handlers[index] = (path, handler, *rest)
    elif not (isinstance(handler, type) and issubclass(handler, Metrics)):
        raise RuntimeError(f"flower {installed}: {METRICS_PATH} is served by {handler!r}")
    return handler


def _every_sentinel(shipped: type, sentinels: tuple[tuple[str, int], ...]) -> type:
    class EverySentinel(shipped):
        """Flower's RedisSentinel, asking each of `sentinels` in turn for the master."""

        every_sentinel = sentinels

        def _get_redis_client(self, broker_options, broker_use_ssl):
            client = super()._get_redis_client(broker_options, broker_use_ssl)
            if (self.host, self.port) != sentinels[0]:
                return client  # not the configured broker: as Flower does
            # Nothing has connected yet: the same options, every Sentinel.
            first = client.connection_pool.sentinel_manager
            manager = type(first)(
                list(sentinels),
                min_other_sentinels=first.min_other_sentinels,
                sentinel_kwargs=first.sentinel_kwargs,
                **first.connection_kwargs,
            )
            return manager.master_for(self.master_name)

    return EverySentinel


def ask_every_sentinel(broker_url: str, installed: str | None = None) -> type | None:
    """Have Flower's Broker page ask every Sentinel of `broker_url` (the configured one,
    all its parts) for the master; the class Flower now builds, or None when nothing
    changed (not a Sentinel URL, or a Flower version this was not checked against)."""
    if not is_sentinel(broker_url):
        return None
    installed = installed or version("flower")
    if installed not in SENTINEL_CHECKED_VERSIONS:
        logger.warning(
            "flower %s is installed; backend/patches/flower.py's ask_every_sentinel was "
            "checked against %s only and changes nothing: the Broker page asks only the "
            "first Sentinel of CELERY_BROKER_URL",
            installed,
            ", ".join(sorted(SENTINEL_CHECKED_VERSIONS)),
        )
        return None
    from flower.utils import broker

    sentinels = sentinel_target(broker_url, {}).sentinels
    shipped = broker.RedisSentinel
    if getattr(shipped, "every_sentinel", None) is not None:
        shipped = shipped.__mro__[1]  # the config loaded again: replace, do not stack
    # Broker.__new__ looks the class up in its module when it builds one.
    broker.RedisSentinel = _every_sentinel(shipped, sentinels)
    return broker.RedisSentinel
