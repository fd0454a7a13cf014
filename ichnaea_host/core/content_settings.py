"""The settings of the host's built-in ``content`` plugin
(``ICHNAEA_CONTENT__<NAME>``): the public web site, the coverage map's tiles
and the public export files. Read by the site, the tiles and the cell export;
the plugin's hooks are in :mod:`ichnaea_host.site.content`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ichnaea_host.core.settings import ConfigError, PluginSettings, setting

#: the entry under which the host keeps these settings
PLUGIN_NAME = "content"


@dataclasses.dataclass(frozen=True)
class ContentSettings(PluginSettings):
    basemap_url: str = setting(
        "", help="tile URL template of the map's base layer, e.g. "
        "https://tile.example.org/{z}/{x}/{y}.png (empty: coverage on a plain background)")
    basemap_attribution: str = setting("", help="attribution text shown for the base layer")
    tiles_dir: str = setting("", help="folder of the coverage tiles (empty: <var>/tiles)")
    exports_dir: str = setting(
        "", help="folder of the public export files listed on /downloads when ASSET_BUCKET "
        "is empty (empty: <var>/exports)")
    s3_endpoint_url: str = setting(
        "", help="URL of an S3-compatible server holding ASSET_BUCKET (empty: AWS)")
    contact_email: str = setting("", help="address shown on the contact page")
    render_tiles: bool = setting(
        True, help="the worker draws the changed coverage tiles every ten minutes "
        "(off: run 'ichnaea map render' yourself)")

    coverage_grid: int = setting(
        1000, help="cells per degree of the coverage vector tiles' grid (/tiles/coverage.json; "
        "1000: squares of 0.001 degree, the datamap's)")
    coverage_interval: int = setting(
        86400, help="seconds between two readings of the station tables into the coverage "
        "vector tiles' grid (a whole read of each table: daily by default, the squares' "
        "ages count in days; 0: only 'ichnaea map coverage' reads them)")

    def validate(self) -> None:
        if not 1 <= self.coverage_grid <= 10000:
            raise ConfigError("ICHNAEA_CONTENT__COVERAGE_GRID",
                              f"expected 1 to 10000, got {self.coverage_grid}")
        if self.coverage_interval < 0:
            raise ConfigError("ICHNAEA_CONTENT__COVERAGE_INTERVAL",
                              f"expected 0 or more, got {self.coverage_interval}")
        if self.basemap_url and not self.basemap_url.startswith(("http://", "https://")):
            raise ConfigError("ICHNAEA_CONTENT__BASEMAP_URL",
                              "expected an http:// or https:// URL template")
        if self.s3_endpoint_url and not self.s3_endpoint_url.startswith(("http://", "https://")):
            raise ConfigError("ICHNAEA_CONTENT__S3_ENDPOINT_URL",
                              "expected an http:// or https:// URL")


def content_settings(ctx: Any) -> ContentSettings:
    found = ctx.plugins.settings_for(PLUGIN_NAME)
    return found if isinstance(found, ContentSettings) else ContentSettings()


def tiles_dir(ctx: Any) -> Path:
    return Path(content_settings(ctx).tiles_dir or ctx.settings.var_path / "tiles")


def exports_dir(ctx: Any) -> Path:
    return Path(content_settings(ctx).exports_dir or ctx.settings.var_path / "exports")
