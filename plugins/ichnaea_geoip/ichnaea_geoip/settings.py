"""Settings of the geoip plugin."""

from __future__ import annotations

import dataclasses

from ichnaea_host import ConfigError, PluginSettings, setting


@dataclasses.dataclass(frozen=True)
class GeoIPSettings(PluginSettings):
    path: str = setting(
        "", env="GEOIP_PATH",
        help="a MaxMind-format City database (GeoLite2, GeoIP2, DB-IP City Lite), "
             "re-read when replaced; empty: the demo database (a few cities only), built "
             "as <var>/geoip/demo-city.mmdb on first use")
    radius_scale: float = setting(
        1.64,
        help="factor from a record's accuracy_radius to the answered accuracy. MaxMind "
             "documents that radius as holding the user 67 % of the time; the API promises "
             "95 %, which is 1.64 times it when users spread around the point as a Rayleigh "
             "distribution does. 1.0 answers the database's own radius")

    def validate(self) -> None:
        if not self.radius_scale > 0:
            raise ConfigError(self.env_name(_field("radius_scale")),
                              f"expected a number above 0, got {self.radius_scale}")


def _field(name: str) -> dataclasses.Field:
    return next(f for f in dataclasses.fields(GeoIPSettings) if f.name == name)
