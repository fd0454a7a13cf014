"""The station updater's shortcuts give exactly the answers of the full
computations: the circle radius from the farthest corners only, distances
settled by the degrees between points."""

from __future__ import annotations

import random

import pytest

from ichnaea_host.core.geo import circle_radius, distance
from ichnaea_host.stations.aggregate import station_radius
from ichnaea_host.stations.rules import within


def test_station_radius_is_the_circle_radius():
    rng = random.Random(5)
    for number in range(8000):
        lat, lon = rng.uniform(-75.0, 75.0), rng.uniform(-180.0, 180.0)
        span = rng.choice([0.0, 1e-6, 1e-4, 1e-3, 0.01, 0.05, 0.1, 0.3])
        points = [(lat + rng.uniform(-span, span), lon + rng.uniform(-span, span))
                  for _ in range(rng.randint(1, 4))]
        weights = [rng.uniform(0.1, 3.0) if number % 3 else 1.0 for _ in points]
        total = sum(weights)
        centre = (sum(p[0] * w for p, w in zip(points, weights, strict=True)) / total,
                  sum(p[1] * w for p, w in zip(points, weights, strict=True)) / total)
        box = (max(p[0] for p in points), max(p[1] for p in points),
               min(p[0] for p in points), min(p[1] for p in points))
        assert station_radius(*centre, *box) == circle_radius(*centre, *box)


@pytest.mark.parametrize("max_dist", [100.0, 5000.0, 100_000.0])
def test_within_agrees_with_the_distance(max_dist):
    rng = random.Random(max_dist)
    for _ in range(5000):
        lat, lon = rng.uniform(-89.0, 89.0), rng.uniform(-180.0, 180.0)
        span = max_dist / 111_000.0 * rng.choice([0.1, 0.5, 0.9, 1.0, 1.1, 2.0])
        other = (lat + rng.uniform(-span, span), lon + rng.uniform(-span, span))
        assert within(lat, lon, *other, max_dist) == (distance(lat, lon, *other) <= max_dist)
