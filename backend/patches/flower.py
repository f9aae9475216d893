"""Flower: its /metrics asks for the same credentials as every other Flower page.

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
"""

from importlib.metadata import version

import tornado.web

CHECKED_VERSIONS = frozenset({"2.2.0"})
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
