"""The plugin guide in the README documents every hook the host declares,
with its signature (as datasette's docs test keeps its hooks honest)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from ichnaea_host.core import hookspecs

README = Path(__file__).resolve().parent.parent / "README.md"


def hook_specs() -> dict[str, str]:
    """``{hook name: "name(param, ...)"}`` of every hook spec."""
    return {name: f"{name}({', '.join(inspect.signature(fn).parameters)})"
            for name, fn in vars(hookspecs).items()
            if name.startswith("ichnaea_") and callable(fn)}


def plugin_guide() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Writing a plugin")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_the_hooks_are_found():
    assert len(hook_specs()) >= 12
    assert hook_specs()["ichnaea_register_commands"] == "ichnaea_register_commands(cli, context)"


@pytest.mark.parametrize("hook", sorted(hook_specs()))
def test_every_hook_is_documented_with_its_signature(hook):
    signature = hook_specs()[hook]
    assert f"`{signature}`" in plugin_guide(), f"the plugin guide lacks `{signature}`"


def test_the_guide_names_no_hook_the_host_does_not_have():
    named = set(re.findall(r"`(ichnaea_[a-z_]+)\(", plugin_guide()))
    assert named <= set(hook_specs()), named - set(hook_specs())
