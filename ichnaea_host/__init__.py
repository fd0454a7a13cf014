"""Ichnaea: a self-hostable geolocation service, wire-compatible with the
Mozilla Location Service. This package is the small host; radio types, GeoIP,
fallback providers and export targets are plugins.
"""

from ichnaea_host.core.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = ["hookimpl", "__version__"]
