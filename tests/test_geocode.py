"""The geocoder: the regions of positions, from shipped shapes."""

from __future__ import annotations

import math
import random

import pytest

from ichnaea_host.core import geocode

LONDON = (51.5074, -0.1278)
BERLIN = (52.52, 13.405)
PARIS = (48.8566, 2.3522)
GUERNSEY = (49.45, -2.55)
MID_ATLANTIC = (0.0, -30.0)
# 20 km off the coast of Norfolk: at sea, but inside the grown shape of GB only
OFF_NORFOLK = (52.95, 1.6)


@pytest.mark.parametrize(("position", "code"), [
    (LONDON, "GB"), (BERLIN, "DE"), (PARIS, "FR"), (GUERNSEY, "GG"),
    ((40.7128, -74.006), "US"), ((35.68, 139.77), "JP"), ((-41.29, 174.78), "NZ"),
    ((64.84, -147.72), "US"),  # Alaska, a polygon of its own
])
def test_region_of_a_position(position, code):
    assert geocode.region(*position) == code


@pytest.mark.parametrize(("position", "code"), [
    ((43.94, 12.45), "SM"), ((43.969, 12.48), "SM"),  # inside Italy's outline too
    ((46.204, 6.143), "CH"),  # Geneva, inside France's outline too
    ((47.141, 9.521), "LI"), ((47.165, 9.508), "LI"),  # inside Switzerland's too
    ((13.567, -15.6), "GM"),  # inside Senegal's too
    # barely inside the smaller region's outline: the other one holds them deeper
    ((54.5044, -8.058), "IE"), ((47.6437, 7.5477), "FR"), ((22.2055, 113.48), "CN"),
    ((22.543, 114.058), "CN"),
])
def test_where_outlines_overlap(position, code):
    assert len(geocode._depths(geocode._shapes(), *position, {"CH", "CN", "DE", "FR", "GB",
                                                              "GM", "HK", "IE", "IT", "LI",
                                                              "MO", "SM", "SN"})) == 2
    assert geocode.region(*position) == code


def test_open_sea_is_no_region():
    assert geocode.region(*MID_ATLANTIC) is None
    assert not geocode.in_region(*MID_ATLANTIC, "GB")


def test_near_the_coast_counts_as_the_region():
    assert geocode.region(*OFF_NORFOLK) == "GB"
    assert geocode.in_region(*OFF_NORFOLK, "GB")


@pytest.mark.parametrize("position", [(91.0, 0.0), (0.0, 181.0), (float("nan"), 0.0)])
def test_impossible_positions_have_no_region(position):
    assert geocode.region(*position) is None
    assert not geocode.in_region(*position, "GB")


def test_in_region_uses_the_named_region_only():
    assert geocode.in_region(*BERLIN, "DE")
    assert not geocode.in_region(*BERLIN, "GB")
    assert not geocode.in_region(*LONDON, "ZZ")


# ---------------------------------------------------------------------------
# regions remembered per grid square (the station updaters' lookups)


@pytest.mark.parametrize("area", [
    (47.0, 55.0, 5.0, 15.0),  # Germany and its neighbours: many borders
    (54.0, 60.0, 10.0, 20.0),  # Danish and Swedish coasts and islands
    (-60.0, 75.0, -180.0, 180.0),  # anywhere
    (43.85, 44.05, 12.3, 12.6),  # San Marino, inside Italy's outline
    (46.1, 46.35, 5.9, 6.3),  # Geneva, inside France's outline
    (47.0, 47.3, 9.4, 9.7),  # Liechtenstein, mostly inside Switzerland's
    (54.3, 54.7, -8.3, -7.6),  # the Irish border, where the outlines overlap
])
def test_remembered_regions_are_the_exact_regions(area):
    south, north, west, east = area
    rng = random.Random(f"{area}")
    grid = geocode.RegionGrid()
    points = [(rng.uniform(south, north), rng.uniform(west, east)) for _ in range(1500)]
    points += [(lat + 1e-4, lon - 1e-4) for lat, lon in points]  # squares seen before
    assert [grid.region(lat, lon) for lat, lon in points] == \
        [geocode.region(lat, lon) for lat, lon in points]


def test_remembered_regions_of_impossible_positions():
    grid = geocode.RegionGrid()
    assert grid.region(float("nan"), 10.0) is None
    assert grid.region(91.0, 10.0) is None
    assert grid.region(51.5, -0.1) == "GB"


def test_borders_touch_the_squares_they_cross():
    # the square of one degree holding Basel: the grown outlines of CH, DE and FR cross it
    row, column = math.floor(47.56), math.floor(7.59)
    square = geocode.grid_square(1, row, column)
    assert (square.lat, square.lon) == (47.5, 7.5)
    west, south, east, north = square.box
    assert west < 7.0 and 8.0 < east and south < 47.0 and 48.0 < north
    assert geocode.borders_touch(square.box, {"CH"})
    assert geocode.borders_touch(square.box)
    # no outline of Japan's anywhere near; none at all in the middle of Germany
    assert not geocode.borders_touch(square.box, {"JP"})
    assert not geocode.borders_touch(geocode.grid_square(8, 8 * 51, 8 * 10).box)
