"""core/redis_connection.py and the settings for a sentinel:// broker: kombu's URL form
read as kombu reads it, what the settings hand to Celery and Flower, and what production
refuses. (Against real Sentinels: tests/integration/test_sentinel.py.)"""

import secrets

import pytest
import redis

from core import redis_connection
from tests.support.compose import container_env
from tests.support.fresh_python import clean_env, manage, setting_values

SENTINELS = "sentinel://:pw@s1:26379/2;sentinel://s2:26380/2;sentinel://s3"


def test_a_sentinel_url_names_every_sentinel_and_the_first_parts_password_and_database():
    target = redis_connection.sentinel_target(SENTINELS, {"master_name": "broker"})
    assert target.sentinels == (("s1", 26379), ("s2", 26380), ("s3", 26379))
    assert (target.master_name, target.password, target.db) == ("broker", "pw", 2)
    assert "pw" not in target.describe() and "pw" not in repr(target)
    assert "s3:26379" in redis_connection.describe(SENTINELS, {})


def test_the_master_set_defaults_to_redis_own_name():
    assert redis_connection.sentinel_target("sentinel://s1", {}).master_name == "mymaster"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("sentinel://s1;redis://r1:6379", "mixes sentinel://"),
        ("sentinel://s1;sentinel://:pw@s2", "give it on the first"),
        ("sentinel://:a@s1;sentinel://:b@s2", "give it on the first"),
        ("sentinel://s1/1;sentinel://s2/2", "different databases"),
        ("sentinel://s1/x", "a number is expected"),
    ],
)
def test_a_sentinel_url_kombu_would_misread_is_refused(url, problem):
    assert any(problem in found for found in redis_connection.sentinel_url_problems(url))
    with pytest.raises(ValueError, match=problem):
        redis_connection.sentinel_target(url, {})


def test_a_plain_redis_url_gives_a_plain_client():
    client = redis_connection.client_for("redis://127.0.0.1:9/3", {}, timeout=1)
    assert client.connection_pool.connection_kwargs["db"] == 3
    assert not redis_connection.is_sentinel("redis://127.0.0.1:9/3")
    assert redis_connection.is_redis("unix:///run/redis.sock")


def test_the_sentinel_client_sends_sentinels_their_password_and_the_master_its_own():
    options = {"master_name": "broker", "sentinel_kwargs": {"password": "sentinel-pw"}}
    client = redis_connection.client_for(SENTINELS, options, timeout=1)
    manager = client.connection_pool.sentinel_manager
    assert client.connection_pool.service_name == "broker"
    assert client.connection_pool.connection_kwargs["password"] == "pw"
    assert {node.connection_pool.connection_kwargs["password"] for node in manager.sentinels} == {
        "sentinel-pw"
    }
    redis_connection.close(client)


def test_no_sentinel_answering_is_a_connection_error():
    with pytest.raises(redis.ConnectionError, match="no Sentinel named a master"):
        redis_connection.master_state("sentinel://127.0.0.1:9", {}, timeout=1)


# THE SETTINGS
# ------------------------------------------------------------------------------


def test_a_sentinel_broker_gives_celery_and_flower_the_master_set_and_sentinel_password():
    env = clean_env(
        CELERY_BROKER_URL=SENTINELS,
        CELERY_BROKER_SENTINEL_MASTER="broker",
        CELERY_BROKER_SENTINEL_PASSWORD="sentinel-pw",
    )
    options = setting_values("CELERY_BROKER_TRANSPORT_OPTIONS", env=env)
    assert options["CELERY_BROKER_TRANSPORT_OPTIONS"]["master_name"] == "broker"
    assert options["CELERY_BROKER_TRANSPORT_OPTIONS"]["sentinel_kwargs"] == {
        "password": "sentinel-pw"
    }


def test_a_redis_broker_gets_no_sentinel_options():
    env = clean_env(CELERY_BROKER_SENTINEL_PASSWORD="sentinel-pw")
    options = setting_values("CELERY_BROKER_TRANSPORT_OPTIONS", env=env)
    assert set(options["CELERY_BROKER_TRANSPORT_OPTIONS"]) == {"visibility_timeout"}


def test_the_settings_refuse_a_sentinel_url_kombu_would_misread():
    refused = manage("check", env=clean_env(CELERY_BROKER_URL="sentinel://s1;sentinel://:pw@s2"))
    assert refused.returncode != 0
    assert "give it on the first" in refused.stderr


@pytest.mark.parametrize(
    ("master_password", "sentinel_password", "named"),
    [
        ("", secrets.token_urlsafe(24), "CELERY_BROKER_URL's password"),
        (secrets.token_urlsafe(24), "", "CELERY_BROKER_SENTINEL_PASSWORD"),
        (secrets.token_urlsafe(24), "change-me-please-now", "CELERY_BROKER_SENTINEL_PASSWORD"),
    ],
)
def test_production_refuses_a_sentinel_broker_without_strong_passwords(
    prod_model, master_password, sentinel_password, named
):
    url = f"sentinel://:{master_password}@s1:26379;sentinel://s2:26379"
    env = container_env(
        prod_model,
        "web",
        CELERY_BROKER_URL=url,
        CELERY_BROKER_SENTINEL_PASSWORD=sentinel_password,
    )
    refused = manage("check", env=env)
    assert refused.returncode != 0
    assert named in refused.stderr
    assert sentinel_password not in refused.stderr or not sentinel_password


def test_production_accepts_a_sentinel_broker_with_strong_passwords(prod_model):
    url = f"sentinel://:{secrets.token_urlsafe(24)}@s1:26379;sentinel://s2:26379"
    env = container_env(
        prod_model,
        "web",
        CELERY_BROKER_URL=url,
        CELERY_BROKER_SENTINEL_PASSWORD=secrets.token_urlsafe(24),
    )
    loaded = setting_values("BROKER_SENTINEL_MASTER", env=env)
    assert loaded == {"BROKER_SENTINEL_MASTER": "mymaster"}
