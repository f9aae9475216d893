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
