"""The ``wifi`` layer of the coverage vector tiles (``/tiles/coverage.json``):
the grid squares holding access points of the ``wifi`` table, with when each was last seen."""

from __future__ import annotations

from typing import Any

from ichnaea_host import CoverageLayer


def coverage_cells(context: Any, per_degree: int) -> list[Any]:
    from ichnaea_host import station_coverage

    from .models import MODEL

    return station_coverage(MODEL, per_degree, context.db.ro)


LAYER = CoverageLayer("wifi", coverage_cells, "WiFi access points")
