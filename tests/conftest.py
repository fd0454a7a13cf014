"""Host test helpers: plugin distributions built and installed for real."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ACME_HOOKS = '''
"""A third-party position source: answers every query that carries networks."""
from ichnaea_host import hookimpl
from ichnaea_host import PositionSource
from ichnaea_host.core.answers import Position


class AcmeSource(PositionSource):
    PLUGIN_NAME = "acme"
    DEFAULT_ORDER = 70

    def should_search(self, query, results):
        return query.has_networks

    def search(self, query):
        return [Position(lat=10.0, lon=20.0, accuracy=1000.0, score=5.0, source="acme")]


@hookimpl
def ichnaea_register_position_sources():
    return [AcmeSource]
'''

BROKEN_HOOKS = '''
raise ImportError("this plugin needs a library that is not installed")
'''


def _write_dist(root: Path, dist: str, module: str, ep_name: str, hooks: str) -> Path:
    src = root / dist
    (src / module).mkdir(parents=True)
    (src / module / "__init__.py").write_text("")
    (src / module / "hooks.py").write_text(textwrap.dedent(hooks))
    (src / "pyproject.toml").write_text(textwrap.dedent(f"""
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{dist}"
        version = "1.2.3"

        [project.entry-points.ichnaea]
        {ep_name} = "{module}.hooks"

        [tool.setuptools]
        packages = ["{module}"]
    """))
    return src


@pytest.fixture(scope="session")
def third_party_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with two plugin distributions installed by pip: ``acme`` (a
    working position source) and ``broken`` (fails at import)."""
    root = tmp_path_factory.mktemp("dists")
    site = root / "site"
    sources = [
        _write_dist(root, "ichnaea-acme", "ichnaea_acme", "acme", ACME_HOOKS),
        _write_dist(root, "ichnaea-broken", "ichnaea_broken", "broken", BROKEN_HOOKS),
    ]
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(site), *map(str, sources)],
        check=True, capture_output=True,
    )
    return site
