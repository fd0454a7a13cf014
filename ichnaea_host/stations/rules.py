"""The rules every network kind's stations follow: how much an observation
weighs, when observations agree, which transition (new, change, confirm,
replace, block ...) an update makes, when a station is blocked, and how far
its position can be trusted (spec/pipeline.md)."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

from ichnaea_host.core.geo import distance

SOURCE_IDS = {"fixed": 0, "gnss": 3, "fused": 6, "query": 9}
QUERY_SOURCE = SOURCE_IDS["query"]
GNSS_SOURCE = SOURCE_IDS["gnss"]
BLOCK_DAYS = 2
MAX_OLD_WEIGHT = 10000.0
MAX_SAMPLES = 4294967295
MAX_WEIGHT = 1e9


# ---------------------------------------------------------------------------
# observation weights


def accuracy_weight(accuracy: float | None, max_accuracy: float) -> float:
    value = abs(accuracy) if accuracy else 10.0
    value = max(value, 10.0)
    return 0.0 if value > max_accuracy else math.sqrt(10.0 / value)


def age_weight(age: float | None) -> float:
    value = abs(age) if age else 2000.0
    value = max(value, 2000.0)
    return 0.0 if value > 20000 else min(math.sqrt(2000.0 / value), 1.0)


def speed_weight(speed: float | None) -> float:
    value = abs(speed) if speed else 1.0
    value = max(value, 1.0)
    return 0.0 if value > 50 else min(math.sqrt(5.0 / value), 1.0)


# ---------------------------------------------------------------------------
# bounds: whether observations agree


#: metres per degree that no distance on the WGS-84 ellipsoid exceeds: a
#: meridian's arc is at most 111.694 km per degree of latitude (at the poles),
#: a parallel's at most 111.320 km per degree of longitude (at the equator),
#: and the geodesic is no longer than the path along the two
METRES_PER_DEGREE_BOUND = 111_700.0


def within(lat1: float, lon1: float, lat2: float, lon2: float, max_dist: float) -> bool:
    """``distance(...) <= max_dist``, without the Vincenty iterations when the
    degrees between the points settle it (observations of one network nearly
    always lie well within the limit)."""
    if (abs(lat1 - lat2) + abs(lon1 - lon2)) * METRES_PER_DEGREE_BOUND < max_dist * 0.999:
        return True
    return distance(lat1, lon1, lat2, lon2) <= max_dist


# ---------------------------------------------------------------------------
# transitions


TRANSITIONS = {
    # station label -> observation label -> status
    "none": {"gnss_consistent": "new", "query_consistent": "new",
             "gnss_inconsistent": "new_block", "query_inconsistent": "new_block"},
    "no_position": {"gnss_consistent": "change", "query_consistent": "change",
                    "gnss_inconsistent": "no_change", "query_inconsistent": "no_change"},
    "agree_gnss_position": {"gnss_consistent": "change", "query_consistent": "confirm",
                            "gnss_inconsistent": "block", "query_inconsistent": "block"},
    "agree_query_position": {"gnss_consistent": "replace", "query_consistent": "change",
                             "gnss_inconsistent": "block", "query_inconsistent": "block"},
    "disagree_position": {"gnss_consistent": "block", "query_consistent": "block",
                          "gnss_inconsistent": "block", "query_inconsistent": "block"},
    "disagree_old_position": {"gnss_consistent": "replace", "query_consistent": "replace",
                              "gnss_inconsistent": "block", "query_inconsistent": "block"},
}


#: labels of stations with a position; when that position came from GNSS (or
#: fixed/fused) reports, observations
#: from locate queries may confirm them but never move or block them: the
#: original let query data replace an old GNSS position and block a disagreeing
#: one, so a few clients (or a dual-band router's two MACs) could pollute it.
GNSS_LABELS = frozenset({"agree_gnss_position", "disagree_position",
                         "disagree_old_position"})


# ---------------------------------------------------------------------------
# blocks and scores


def is_blocked(row: Any, today: date) -> bool:
    if row.block_last is not None and (today - row.block_last).days < BLOCK_DAYS:
        return True
    if row.created is not None and row.block_count:
        age_days = abs((row.created.date() - today).days)
        return row.block_count >= int(round(age_days / 30.0))
    return False


def station_score(row: Any, now: datetime) -> float:
    """How much a station's position can be trusted (age, collection span, samples)."""
    modified = row.modified or now
    months = max((now - modified).days, 0) // 30
    age = 1.0 / math.sqrt(months + 1)
    last = max(modified.date(), row.last_seen) if row.last_seen else modified.date()
    created = (row.created or now).date()
    first = max(created, row.block_last) if row.block_last else created
    collection = min(max((last - first).days, 1) / 10.0, 1.0)
    samples = row.samples or 0
    if samples > 1 and not row.radius:
        samples = 1
    sample_weight = min(max(math.log2(max(samples, 1)), 0.5), 10.0)
    return age * collection * sample_weight
