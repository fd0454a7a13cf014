"""Mobile country codes: the regions each serves, and the region of a cell."""

from __future__ import annotations

import random

import pytest

from ichnaea_cell import mcc as mcc_codes

LONDON = (51.5074, -0.1278)
BERLIN = (52.52, 13.405)
GUERNSEY = (49.45, -2.55)
MID_ATLANTIC = (0.0, -30.0)


@pytest.mark.parametrize(("mcc", "codes"), [
    (234, ["GB", "GG", "IM", "JE"]),
    (235, ["GB"]),
    (262, ["DE"]),
    (208, ["FR", "MC"]),
    (310, ["BM", "GU", "MP", "PR", "US", "VI"]),
    (311, ["AS", "GU", "US", "VI"]),
    (425, ["IL", "XW"]),  # Palestine's ISO code PS is XW in GENC
    (999, []),
    (None, []),
])
def test_regions_for_mcc(mcc, codes):
    assert mcc_codes.regions_for_mcc(mcc) == codes


def test_valid_mccs():
    mccs = mcc_codes.valid_mccs()
    assert len(mccs) == 234
    assert {202, 234, 262, 310, 995} <= mccs
    assert 553 not in mccs and 1 not in mccs and 999 not in mccs


def test_the_table_ships_with_the_plugin():
    assert (mcc_codes.DATA / "mcc_countries.json").is_file()
    codes = {code for codes in mcc_codes.mcc_table().values() for code in codes}
    assert {"DE", "GB", "US", "XW"} <= codes and "PS" not in codes


def test_region_for_cell():
    assert mcc_codes.region_for_cell(*LONDON, 234) == "GB"
    assert mcc_codes.region_for_cell(*GUERNSEY, 234) == "GG"
    assert mcc_codes.region_for_cell(*BERLIN, 262) == "DE"
    # a German network code seen in London is not placed anywhere
    assert mcc_codes.region_for_cell(*LONDON, 262) is None
    assert mcc_codes.region_for_cell(*MID_ATLANTIC, 234) is None


def test_in_mcc_regions():
    assert mcc_codes.in_mcc_regions(*GUERNSEY, 234)
    assert not mcc_codes.in_mcc_regions(*LONDON, 262)
    assert not mcc_codes.in_mcc_regions(*LONDON, 999)


def test_remembered_regions_match_the_exact_look_up():
    rng = random.Random(4)
    remembered = mcc_codes.CellRegions()
    mccs = sorted(mcc_codes.valid_mccs())
    for _ in range(4000):
        lat, lon = rng.uniform(-60, 70), rng.uniform(-180, 180)
        mcc = rng.choice(mccs)
        assert remembered.region(lat, lon, mcc) == mcc_codes.region_for_cell(lat, lon, mcc)


@pytest.mark.parametrize(("lat", "lon", "mccs"), [
    (47.56, 7.59, (228, 262, 208)),  # Basel: CH, DE, FR
    (51.0, 1.5, (234, 208)),  # the Strait of Dover
    (49.45, -2.55, (234,)),  # Guernsey, among GB's and JE's grown shapes
])
def test_remembered_regions_near_borders(lat, lon, mccs):
    rng = random.Random(f"{lat},{lon}")
    remembered = mcc_codes.CellRegions()
    for _ in range(1500):
        point = lat + rng.gauss(0, 0.3), lon + rng.gauss(0, 0.3)
        mcc = rng.choice(mccs)
        assert remembered.region(*point, mcc) == mcc_codes.region_for_cell(*point, mcc)
