"""Configuration from environment variables, and clear errors for bad values."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ichnaea_host.core.settings import ConfigError, Settings


def test_defaults_are_embedded():
    settings = Settings.from_env({})
    assert settings.readwrite_uri == "sqlite:///var/ichnaea.sqlite"
    assert settings.readonly_uri == settings.readwrite_uri
    assert settings.embedded_redis
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)


def test_original_variable_names():
    settings = Settings.from_env({
        "DB_READWRITE_URI": "mysql+pymysql://u:p@db:3306/location",
        "DB_READONLY_URI": "mysql+pymysql://r:p@replica:3306/location",
        "REDIS_URI": "redis://cache:6379/0",
        "LOGGING_LEVEL": "DEBUG",
        "STATSD_PORT": "9125",
        "ICHNAEA_PLUGINS_DISABLED": "geoip, fallback",
        "ICHNAEA_STRICT_PLUGINS": "yes",
    })
    assert settings.readonly_uri.startswith("mysql+pymysql://r:p@replica")
    assert settings.redis_uri == "redis://cache:6379/0"
    assert settings.statsd_port == 9125
    assert settings.plugins_disabled == ["geoip", "fallback"]
    assert settings.strict_plugins is True
    assert settings.public_dict()["db_readwrite_uri"] == "***"


def test_redis_cluster_by_uri_or_nodes():
    nodes = Settings.from_env({"REDIS_CLUSTER_NODES": "10.0.0.1:7000, 10.0.0.2:7000"})
    assert nodes.redis_url == "redis+cluster://10.0.0.1:7000,10.0.0.2:7000/"
    assert not nodes.embedded_redis
    uri = Settings.from_env({"REDIS_URI": "redis+cluster://10.0.0.1:7000/"})
    assert uri.redis_url == "redis+cluster://10.0.0.1:7000/"


@pytest.mark.parametrize("env, name", [
    ({"DB_READWRITE_URI": "postgres://x/y"}, "DB_READWRITE_URI"),
    ({"REDIS_URI": "localhost:6379"}, "REDIS_URI"),
    ({"REDIS_CLUSTER_NODES": "h1:7000,h2"}, "REDIS_CLUSTER_NODES"),
    ({"REDIS_CLUSTER_NODES": "h1:7000", "REDIS_URI": "redis://h1:7000/0"},
     "REDIS_CLUSTER_NODES"),
    ({"ICHNAEA_INCOMING_PARTITIONS": "-1"}, "ICHNAEA_INCOMING_PARTITIONS"),
    ({"ICHNAEA_PORT": "eighty"}, "ICHNAEA_PORT"),
    ({"ICHNAEA_PORT": "70000"}, "ICHNAEA_PORT"),
    ({"LOGGING_LEVEL": "LOUD"}, "LOGGING_LEVEL"),
    ({"ICHNAEA_STRICT_PLUGINS": "perhaps"}, "ICHNAEA_STRICT_PLUGINS"),
])
def test_invalid_values_name_the_variable(env, name):
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    assert info.value.name == name
    assert str(info.value).startswith(name + ":")


def test_password_is_not_echoed():
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"DB_READWRITE_URI": "postgres://user:secret@host/db"})
    assert "secret" not in str(info.value)


def test_cli_stops_with_one_clear_line(tmp_path):
    env = dict(os.environ, DB_READWRITE_URI="oracle://nope", ICHNAEA_VAR_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "-m", "ichnaea_host.cli.commands", "db", "status"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[0]]
    assert lines[0].startswith("ichnaea: configuration error: DB_READWRITE_URI:")
