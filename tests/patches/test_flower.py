"""The /metrics patch of Flower (backend/patches/flower.py): why it exists, what it routes
where, and the versions it refuses."""

import asyncio
import base64

import pytest


def metrics_status(handler, authorization: str | None) -> int:
    """The status a Tornado app routing /metrics to `handler` answers, with Flower's
    basic auth set to ops:pw (the application attributes Flower's handlers read)."""
    from types import SimpleNamespace

    import tornado.web
    from tornado.httpclient import AsyncHTTPClient
    from tornado.httpserver import HTTPServer
    from tornado.netutil import bind_sockets

    async def ask() -> int:
        app = tornado.web.Application([(r"/metrics", handler)])
        app.options = SimpleNamespace(basic_auth=["ops:pw"], auth="")
        app.purge_offline_worker_metrics = lambda: None
        sockets = bind_sockets(0, "127.0.0.1")
        server = HTTPServer(app)
        server.add_sockets(sockets)
        headers = {"Authorization": authorization} if authorization else {}
        try:
            response = await AsyncHTTPClient().fetch(
                f"http://127.0.0.1:{sockets[0].getsockname()[1]}/metrics",
                headers=headers,
                raise_error=False,
            )
        finally:
            server.stop()
        return response.code

    return asyncio.run(ask())


OPS_PW = "Basic " + base64.b64encode(b"ops:pw").decode()


def test_the_installed_flower_still_serves_metrics_without_credentials():
    """Why the patch exists. When this fails, an upgrade closed /metrics itself: drop the
    patch in backend/patches/flower.py."""
    from flower.views.monitor import Metrics

    assert metrics_status(Metrics, None) == 200


def test_the_patch_routes_metrics_to_a_handler_that_asks_for_the_credentials():
    from flower import urls
    from flower.views.monitor import Metrics

    from patches import flower as flower_patches

    handler = flower_patches.apply()

    assert flower_patches.apply() is handler  # once, however often the config is loaded
    routes = [route for route in urls.handlers if isinstance(route, tuple)]
    assert [route[1] for route in routes if route[0] == "/metrics"] == [handler]
    assert issubclass(handler, Metrics) and handler is not Metrics
    assert metrics_status(handler, None) == 401
    assert metrics_status(handler, "Basic " + base64.b64encode(b"ops:no").decode()) == 401
    assert metrics_status(handler, OPS_PW) == 200


def test_the_patch_keeps_flower_from_starting_on_a_version_it_was_not_checked_against():
    from patches import flower as flower_patches

    with pytest.raises(RuntimeError, match=r"flower 2\.3\.0 is installed.*checked against 2\.2\.0"):
        flower_patches.apply("2.3.0")


# THE BROKER PAGE THROUGH SENTINEL
# ------------------------------------------------------------------------------

CONFIGURED = (
    "sentinel://:redis-pw@10.0.0.1:26379/0;sentinel://10.0.0.2:26380/0;sentinel://10.0.0.3:26381/0"
)
# What Flower builds the Broker page from: the URL Celery reports, its first part.
REPORTED = "sentinel://:redis-pw@10.0.0.1:26379/0"
OPTIONS = {"master_name": "mymaster", "sentinel_kwargs": {"password": "sentinel-pw"}}


@pytest.fixture
def flower_broker(monkeypatch):
    """flower.utils.broker, its RedisSentinel restored after the test."""
    from flower.utils import broker

    monkeypatch.setattr(broker, "RedisSentinel", broker.RedisSentinel)
    return broker


def asked_sentinels(page_broker) -> list[tuple[str, int]]:
    """The Sentinels the Broker page's client asks for the master, in order (no
    connection is made: redis-py connects on the first command)."""
    manager = page_broker.redis.connection_pool.sentinel_manager
    return [
        (
            node.connection_pool.connection_kwargs["host"],
            node.connection_pool.connection_kwargs["port"],
        )
        for node in manager.sentinels
    ]


def test_the_installed_flower_asks_only_the_first_sentinel(flower_broker):
    """Why ask_every_sentinel exists. When this fails, Flower asks every Sentinel
    itself: drop that patch in backend/patches/flower.py."""
    page = flower_broker.Broker(REPORTED, broker_options=OPTIONS, broker_use_ssl=None)

    assert asked_sentinels(page) == [("10.0.0.1", 26379)]


def test_the_patched_broker_page_asks_every_sentinel_with_flowers_own_options(flower_broker):
    from patches import flower as flower_patches

    shipped = flower_broker.Broker(REPORTED, broker_options=OPTIONS, broker_use_ssl=None).redis
    patched = flower_patches.ask_every_sentinel(CONFIGURED, "2.2.0")
    assert flower_patches.ask_every_sentinel(CONFIGURED, "2.2.0").__mro__[1] is patched.__mro__[1]

    page = flower_broker.Broker(REPORTED, broker_options=OPTIONS, broker_use_ssl=None)

    assert type(page) is flower_broker.RedisSentinel and isinstance(page, patched.__mro__[1])
    assert asked_sentinels(page) == [("10.0.0.1", 26379), ("10.0.0.2", 26380), ("10.0.0.3", 26381)]
    manager = page.redis.connection_pool.sentinel_manager
    shipped_manager = shipped.connection_pool.sentinel_manager
    assert manager.sentinel_kwargs == shipped_manager.sentinel_kwargs
    assert manager.sentinel_kwargs["password"] == "sentinel-pw"
    assert manager.connection_kwargs == shipped_manager.connection_kwargs
    assert manager.connection_kwargs["password"] == "redis-pw"
    assert page.redis.connection_pool.service_name == "mymaster"


def test_the_patch_leaves_a_broker_url_it_was_not_given_as_flower_builds_it(flower_broker):
    from patches import flower as flower_patches

    flower_patches.ask_every_sentinel(CONFIGURED, "2.2.0")

    other = flower_broker.Broker(
        "sentinel://10.9.9.9:26379/0", broker_options=OPTIONS, broker_use_ssl=None
    )
    assert asked_sentinels(other) == [("10.9.9.9", 26379)]


def test_the_sentinel_patch_changes_nothing_on_an_unchecked_version_or_without_sentinel(
    flower_broker, caplog
):
    from patches import flower as flower_patches

    shipped = flower_broker.RedisSentinel

    assert flower_patches.ask_every_sentinel("redis://:pw@redis:6379/0", "2.2.0") is None
    assert flower_patches.ask_every_sentinel(CONFIGURED, "2.3.0") is None

    assert flower_broker.RedisSentinel is shipped
    assert "flower 2.3.0 is installed" in caplog.text
    assert "asks only the first Sentinel" in caplog.text
