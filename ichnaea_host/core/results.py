"""Choosing among candidate answers: the best cluster of agreeing positions,
the best region, and whether the answers are good enough to stop looking.

Shared by the searcher and by sources that look at earlier results (the
external fallback), so both apply the same rule.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence

from ichnaea_host.core.answers import ACCURACY_ORDER, Position, Query, Region
from ichnaea_host.core.geo import distance


def best_position_cluster(results: Sequence[Position]) -> list[Position]:
    ordered = sorted(results, key=lambda r: r.accuracy)
    best: list[Position] = []
    best_key = (-1.0, -1.0)
    for i, first in enumerate(ordered):
        cluster = [first]
        for other in ordered[i + 1:]:
            limit = max(1.5 * first.accuracy, 1.5 * other.accuracy)
            if distance(first.lat, first.lon, other.lat, other.lon) <= limit:
                cluster.append(other)
        key = (sum(r.score for r in cluster), max(r.score for r in cluster))
        if key > best_key:
            best, best_key = cluster, key
    return best


def best_position(results: Sequence[Position]) -> Position | None:
    cluster = best_position_cluster(results)
    if not cluster:
        return None
    return sorted(cluster, key=lambda r: (r.accuracy, -r.score))[0]


def satisfies(results: Sequence[Position], query: Query) -> bool:
    """Whether the results are good enough that an external fallback is not needed."""
    cluster = best_position_cluster(results)
    if not cluster or sum(r.score for r in cluster) < 1.0:
        return False
    best_class = min((r.data_accuracy for r in cluster), key=ACCURACY_ORDER.index)
    return ACCURACY_ORDER.index(best_class) <= ACCURACY_ORDER.index(query.expected_accuracy)


def best_region(results: Sequence[Region]) -> Region | None:
    groups: dict[str, list[Region]] = defaultdict(list)
    for result in results:
        groups[result.code].append(result)
    if not groups:
        return None
    code = max(groups, key=lambda c: (sum(r.score for r in groups[c]),
                                      max(r.accuracy for r in groups[c])))
    return sorted(groups[code], key=lambda r: -r.score)[0]


#: the confidence of the accuracy answered by default: the original's 95 %
DEFAULT_CONFIDENCE = 95
#: the confidence levels a client may ask for
CONFIDENCE_RANGE = range(50, 100)


def confidence_factor(level: int, table: Mapping[int, float] | None = None) -> float:
    """The factor turning a 95 % accuracy radius into the radius holding the
    true position ``level`` % of the time.

    ``table`` is a source's measured ``{level: factor}``: at each level, the
    quantile of its answers' errors in units of their accuracy (linear between
    its levels). Without one, or outside its levels, the error is taken as
    circular normal: the radius holding a share p grows as ``sqrt(-ln(1 - p))``.
    The default level answers the accuracy as it is.
    """
    if level == DEFAULT_CONFIDENCE:
        return 1.0
    normal = math.sqrt(math.log(1 - level / 100) / math.log(1 - DEFAULT_CONFIDENCE / 100))
    if not table:
        return normal
    points = sorted(table.items())
    if level < points[0][0] or level > points[-1][0]:
        return normal
    for (low, low_factor), (high, high_factor) in zip(points, points[1:], strict=False):
        if low <= level <= high:
            share = (level - low) / (high - low)
            return low_factor + share * (high_factor - low_factor)
    return normal  # pragma: no cover - the points cover the level
