"""The ``cell`` layer of the coverage vector tiles (``/tiles/coverage.json``):
the grid squares holding cells of any radio (``cell_gsm`` ... ``cell_nr``),
with when each was last seen (a square in two tables is merged by the host)."""

from __future__ import annotations

from typing import Any

from ichnaea_host import CoverageLayer


def coverage_cells(context: Any, per_degree: int) -> list[Any]:
    from ichnaea_host import station_coverage

    from .models import CELL_MODELS

    return [cell for model in CELL_MODELS.values()
            for cell in station_coverage(model, per_degree, context.db.ro)]


LAYER = CoverageLayer("cell", coverage_cells, "Cell towers (GSM, UMTS, LTE, NR)")
