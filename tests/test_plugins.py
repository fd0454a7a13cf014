"""The plugin system: discovery through entry points, isolation, operator control."""

from __future__ import annotations

import importlib

import pytest

from ichnaea_host.core.settings import ConfigError, Settings
from ichnaea_host.plugins.manager import PluginLoadError, build_plugin_host

FIRST_PARTY = {"wifi", "cell", "blue", "geoip", "fallback", "export_s3", "export_geosubmit",
               "wigle"}


def settings(**overrides):
    return Settings.from_env({}, **overrides)


def test_first_party_plugins_are_discovered():
    host = build_plugin_host(settings(), strict=True)
    infos = {i.name: i for i in host.plugin_list()}
    assert FIRST_PARTY <= set(infos)
    for name in FIRST_PARTY:
        assert infos[name].enabled, name
        assert infos[name].distribution == "ichnaea-" + name.replace("_", "-")
        assert infos[name].version
    assert "internal" in host.exporters() and "dummy" in host.exporters()


def test_separate_distribution_is_discovered_and_used(third_party_site, monkeypatch,
                                                      make_runtime, api_key_factory):
    monkeypatch.syspath_prepend(str(third_party_site))
    importlib.invalidate_caches()
    rt = make_runtime(plugins_disabled=["broken"])
    info = {i.name: i for i in rt.plugins.plugin_list()}["acme"]
    assert (info.distribution, info.version, info.enabled) == ("ichnaea-acme", "1.2.3", True)
    assert info.registers == {"position_sources": ["acme"]}

    from ichnaea_host.app import create_app

    client = create_app(runtime=rt).test_client()
    key = api_key_factory()
    query = {"wifiAccessPoints": [{"macAddress": "a0b1c2d3e4f5"}, {"macAddress": "a0b1c2d3e4f6"}]}
    response = client.post(f"/v1/geolocate?key={key}", json=query)
    assert response.status_code == 200
    assert response.get_json() == {"location": {"lat": 10.0, "lng": 20.0}, "accuracy": 1000.0}


def test_broken_plugin_is_skipped_when_lenient(third_party_site, monkeypatch):
    monkeypatch.syspath_prepend(str(third_party_site))
    importlib.invalidate_caches()
    host = build_plugin_host(settings(), strict=False)
    infos = {i.name: i for i in host.plugin_list()}
    assert infos["broken"].enabled is False
    assert "ImportError" in infos["broken"].error
    assert infos["acme"].enabled and infos["wifi"].enabled


def test_broken_plugin_stops_start_up_when_strict(third_party_site, monkeypatch):
    monkeypatch.syspath_prepend(str(third_party_site))
    importlib.invalidate_caches()
    with pytest.raises(PluginLoadError, match="broken"):
        build_plugin_host(settings(strict_plugins=True))


def test_disabled_and_allow_list():
    host = build_plugin_host(settings(plugins_disabled=["geoip"]), strict=True)
    infos = {i.name: i for i in host.plugin_list()}
    assert infos["geoip"].enabled is False
    assert "geoip" not in [c.PLUGIN_NAME for c in host.position_sources()]

    from ichnaea_host.plugins.manager import BUILTIN_PLUGINS

    host = build_plugin_host(settings(plugins=["wifi"]), strict=True)
    enabled = {i.name for i in host.plugin_list() if i.enabled}
    builtin = {dotted.rsplit(".", 1)[-1] for dotted in BUILTIN_PLUGINS}
    assert enabled == {"wifi"} | builtin  # the host's own plugins ignore the allow-list


def test_geoip_disabled_by_configuration(make_runtime, api_key_factory):
    from ichnaea_host.app import create_app

    rt = make_runtime(plugins_disabled=["geoip"])
    client = create_app(runtime=rt).test_client()
    key = api_key_factory()
    response = client.get(f"/v1/geolocate?key={key}", headers={"X-Forwarded-For": "81.2.69.160"})
    assert response.status_code == 404


def test_locate_source_order_from_settings():
    host = build_plugin_host(settings(locate_sources=["geoip", "wifi"]), strict=True)
    assert [c.PLUGIN_NAME for c in host.position_sources()] == ["geoip", "wifi"]
    host = build_plugin_host(settings(), strict=True)
    names = [c.PLUGIN_NAME for c in host.position_sources()]
    assert names.index("wifi") < names.index("geoip")


def test_unknown_locate_source_is_a_config_error():
    with pytest.raises(ConfigError, match="ICHNAEA_LOCATE_SOURCES.*nonesuch"):
        build_plugin_host(settings(locate_sources=["wifi", "nonesuch"]))


def test_duplicate_plugin_names_are_rejected():
    from ichnaea_host import hookimpl
    from ichnaea_host.core.plugin_classes import Exporter

    class Clash(Exporter):
        PLUGIN_NAME = "internal"

    class Plugin:
        @hookimpl
        def ichnaea_register_exporters(self):
            return [Clash]

    with pytest.raises(PluginLoadError, match="both claim 'internal'"):
        build_plugin_host(settings(), entry_points=False, extra=[("clash", Plugin())],
                          strict=True)


def test_misspelt_hook_fails_loudly():
    from ichnaea_host import hookimpl

    class Plugin:
        @hookimpl
        def ichnaea_register_exporter(self):  # missing "s"
            return []

    with pytest.raises(PluginLoadError, match="unknown hook"):
        build_plugin_host(settings(), entry_points=False, extra=[("typo", Plugin())],
                          strict=True)
    host = build_plugin_host(settings(), entry_points=False, extra=[("typo", Plugin())],
                             strict=False)
    assert {i.name: i for i in host.plugin_list()}["typo"].enabled is False


def test_plugin_settings_are_validated():
    env = {"ICHNAEA_WIFI__MAX_NETWORKS": "many"}
    from ichnaea_host.core.settings import load_plugin_settings
    from ichnaea_wifi.settings import WifiSettings

    with pytest.raises(ConfigError, match="ICHNAEA_WIFI__MAX_NETWORKS"):
        load_plugin_settings(WifiSettings, "wifi", env)
    assert load_plugin_settings(WifiSettings, "wifi", {"ICHNAEA_WIFI__MAX_NETWORKS": "7"}
                                ).max_networks == 7


def _loaded(host, name):
    return {i.name: i for i in host.plugin_list()}[name]


def test_hook_results_of_the_wrong_type_are_refused_naming_the_plugin():
    from ichnaea_host import hookimpl

    class NotAnExporter:
        PLUGIN_NAME = "nope"

    class Plugin:
        @hookimpl
        def ichnaea_register_exporters(self):
            return [NotAnExporter]

    with pytest.raises(PluginLoadError,
                       match=r"plugin 'wrongtype'.*ichnaea_register_exporters.*not an? Exporter"):
        build_plugin_host(settings(), entry_points=False, extra=[("wrongtype", Plugin())],
                          strict=True)

    class Settingsless:
        @hookimpl
        def ichnaea_register_settings(self):
            return dict

    host = build_plugin_host(settings(), entry_points=False,
                             extra=[("badsettings", Settingsless())], strict=False)
    info = _loaded(host, "badsettings")
    assert info.enabled is False
    assert "ichnaea_register_settings" in info.error and "PluginSettings" in info.error


def test_a_plugin_raising_in_a_hook_does_not_break_the_others():
    from ichnaea_host import hookimpl
    from ichnaea_host.core.plugin_classes import Exporter

    class Fine(Exporter):
        PLUGIN_NAME = "fine"

    class Good:
        @hookimpl
        def ichnaea_register_exporters(self):
            return Fine  # one class, not a list, is accepted too

    class Boom:
        @hookimpl
        def ichnaea_register_exporters(self):
            raise RuntimeError("exporters exploded")

    host = build_plugin_host(settings(), entry_points=False,
                             extra=[("good", Good()), ("boom", Boom())], strict=False)
    assert _loaded(host, "boom").enabled is False
    assert "RuntimeError: exporters exploded" in _loaded(host, "boom").error
    assert _loaded(host, "good").enabled
    assert host.exporters()["fine"] is Fine and "internal" in host.exporters()
    # what "good" registered was asked of "good" alone
    assert _loaded(host, "good").registers == {"exporters": ["fine"]}

    with pytest.raises(PluginLoadError, match="plugin 'boom'.*exporters exploded"):
        build_plugin_host(settings(), entry_points=False,
                          extra=[("good", Good()), ("boom", Boom())], strict=True)


def test_a_plugin_failing_to_add_commands_leaves_the_others_commands():
    import click

    from ichnaea_host import hookimpl

    class Adds:
        @hookimpl
        def ichnaea_register_commands(self, cli):
            cli.add_command(click.Command("hello", callback=lambda: None))

    class Fails:
        @hookimpl
        def ichnaea_register_commands(self, cli):
            raise RuntimeError("no commands today")

    host = build_plugin_host(settings(), entry_points=False,
                             extra=[("adds", Adds()), ("fails", Fails())], strict=False)
    group = click.Group("ichnaea")
    host.register_commands(group, lambda: None)
    assert "hello" in group.commands
    assert "no commands today" in _loaded(host, "fails").error


def test_a_plugin_command_gets_its_context_handed_in():
    """The command is given its plugin's settings and the running command's
    runtime, not the CLI's own objects."""
    import dataclasses

    import click
    from click.testing import CliRunner

    from ichnaea_host import CommandContext, PluginSettings, hookimpl, setting

    @dataclasses.dataclass(frozen=True)
    class GreetSettings(PluginSettings):
        word: str = setting("hello", help="what to say")

    class Greets:
        @hookimpl
        def ichnaea_register_settings(self):
            return GreetSettings

        @hookimpl
        def ichnaea_register_commands(self, cli, context: CommandContext):
            @cli.command("greet")
            def greet():
                click.echo(f"{context.settings.word} from {context.runtime().name}")

    class FakeRuntime:
        name = "the runtime"

        def __init__(self, host):
            self.plugins = host

    host = build_plugin_host(settings(), entry_points=False, extra=[("greets", Greets())])
    group = click.Group("ichnaea")
    host.register_commands(group, lambda: FakeRuntime(host))
    result = CliRunner().invoke(group, ["greet"])
    assert result.output == "hello from the runtime\n"


def test_plugin_commands_that_fail_to_load_are_reported(monkeypatch):
    from click.testing import CliRunner

    from ichnaea_host.cli import commands

    monkeypatch.setattr(commands.IchnaeaGroup, "_plugins_loaded", False)
    monkeypatch.setattr(commands.cli, "_plugins_loaded", False, raising=False)
    result = CliRunner().invoke(commands.cli, ["no-such-command"],
                                env={"ICHNAEA_PLUGINS_DISABLED": "", "ICHNAEA_LOCATE_SOURCES":
                                     "nosuchsource"})
    assert "the plugins' commands are not available" in result.output
    assert "nosuchsource" in result.output


def _hook_calls_logged(tmp_path, *args, **env):
    """The ``hook_call`` lines an ``ichnaea`` process wrote to stderr."""
    import json
    import os
    import subprocess
    import sys

    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(("ICHNAEA_", "LOGGING_"))}
    environ.update(env)
    done = subprocess.run([sys.executable, "-m", "ichnaea_host.cli.commands", *args],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path, env=environ)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == "hook_call"]


TRACE = {"ICHNAEA_TRACE_PLUGINS": "true", "LOGGING_LEVEL": "DEBUG"}


def test_tracing_logs_each_hook_call(tmp_path):
    calls = _hook_calls_logged(tmp_path, "plugins", "list", "--json", **TRACE)
    for call in calls:
        assert call["level"] == "debug" and call["outcome"] == "ok"
        assert isinstance(call["duration_ms"], float) and call["duration_ms"] >= 0
        assert len(call["plugins"]) == 1  # each plugin is asked on its own
    logged = sorted((call["hook"], call["plugins"][0]) for call in calls)
    host = build_plugin_host(settings())
    implemented = sorted(
        (caller.name, name)
        for name, plugin in host.pm.list_name_plugin()
        for caller in host.pm.get_hookcallers(plugin) or ()
        # asked only when commands are listed, and by ichnaea doctor
        if caller.name not in ("ichnaea_register_commands", "ichnaea_doctor_checks")
    )
    assert logged == implemented  # every implementation once, nothing else
    assert ("ichnaea_register_exporters", "export_s3") in logged
    assert ("ichnaea_register_settings", "wifi") in logged

    calls = _hook_calls_logged(tmp_path, "--help", **TRACE)
    commands = {call["plugins"][0] for call in calls
                if call["hook"] == "ichnaea_register_commands"}
    assert {"cell", "content"} <= commands


def test_no_hook_call_lines_without_tracing(tmp_path):
    assert _hook_calls_logged(tmp_path, "plugins", "list", **{"LOGGING_LEVEL": "DEBUG"}) == []
    assert _hook_calls_logged(tmp_path, "plugins", "list", ICHNAEA_TRACE_PLUGINS="true",
                              LOGGING_LEVEL="INFO") == []
