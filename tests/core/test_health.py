"""Health endpoints (core.health): /healthz without the database, /readyz naming what is
unreachable. With the broker and database up: tests/integration/test_health.py."""

import pytest

from tests.support.processes import free_port


def test_healthz_answers_without_the_database(client):
    # No django_db mark: any database query here would raise.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_names_an_unreachable_broker(client, celery_app, monkeypatch):
    monkeypatch.setattr(celery_app.conf, "broker_url", f"redis://127.0.0.1:{free_port()}/0")
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert list(body["failed"]) == ["broker"]
    assert "ConnectionError" in body["failed"]["broker"]
