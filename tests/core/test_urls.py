"""The project's URLs (core/urls.py) beyond the admin, health, metrics and webhook views."""

import pytest


@pytest.mark.django_db
def test_favicon_is_no_404(client):
    assert client.get("/favicon.ico").status_code == 204
