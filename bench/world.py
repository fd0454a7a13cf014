"""A seeded synthetic world for the benchmarks.

Cities full of WiFi access points, Bluetooth beacons and cell towers;
stumblers whose GPS tagged scans teach the service where they are, through
the service's own pipeline; and query sets that know where each query really
was.

The model (distances in metres, in a flat east/north frame around each city
centre; the numbers are :class:`Params` and the constants below it). The
default world has 12 cities spread over six continents, one of them next to
the antimeridian:

* **Places.** Each city has a dense core (a normal distribution, sigma
  350-600 m) holding 70 % of its access points and a sparse suburb (sigma 2-3
  times larger) holding the rest, and a street grid (70-140 m blocks, turned
  at a random angle). Access points sit anywhere (indoors); stumblers walk
  the streets (85 % of their scans) with a GPS error of 2-6 m.
* **Radio.** The received signal is ``tx - 10 n log10(d) + shadowing``:
  WiFi tx at 1 m ~ N(-38, 4) dBm, n = 3, shadowing sigma 5 dB, a device
  offset sigma 3 dB, heard down to -92 dBm (so 50-150 m), and one scan in ten
  misses a network it could hear. 30 % of the access points are dual-band
  routers with two MACs at one place (the 5 GHz one 6 dB weaker). Beacons
  sit in shops and venues, 2-8 within 12 m: tx ~ N(-64, 3), n = 2.5, heard
  down to -95 dBm (about 20 m). Cell sites (60 a city) carry three LTE
  sectors, 40 % of them three GSM sectors too (n = 3.5, sector gain, 1-3 km);
  a phone reports its serving cell and, half of the time, one or two
  neighbours, on the layer it is camped on (LTE 80 %, GSM 20 %).
* **Learning.** Phase 1 submits every scan (WiFi, beacons and cells together,
  as stumbler apps do) to ``update_incoming`` and drains the pipeline (the
  host's pipeline steps; the station shards shared by two processes); then
  the stations are *aged* (their created / modified / last_seen dates are
  moved back to a realistic spread, up to four years, since the pipeline
  stamps "now"; cell areas take their cells' dates); phase 2 submits a third
  as many new scans, made after some access points moved, and drains again.
* **Moved stations.** 4 % of the access points moved between the phases,
  30 m to 3 km (log-uniform), and 0.5 % moved 6-30 km. Half of the moved ones
  were stumbled past again in phase 2 (the pipeline then blends or blocks
  them); the others still sit at their old place in the database.
  3 % of the beacons moved to another venue.
* **Mobile stations.** Hotspots in cars and phones (1.5 % of the WiFi
  networks) and wearables (60 beacons a city) were seen by stumblers at 2-12
  places across the city (wearables: 2-6 venues).
* **GeoIP.** Each city has a /16 network in a GeoIP2-City database written
  for the world (``GEOIP_PATH``), located at the city centre with an
  ``accuracy_radius`` of 5-100 km. MaxMind documents that radius as holding
  the address 67 % of the time, so users of the network are spread around
  the centre by a Rayleigh distribution with exactly that property.

Query sets, each query with its true position: ``wifi`` (anyone in a city,
half of them on a street), ``wifi_moved`` (next to where a moved access point
is now), ``wifi_mobile`` (a moving hotspot travels with the user), ``blue``
(inside a venue; one in three also sees a passing wearable), ``mixed`` (WiFi,
the beacons around, the cells and the client's IP), ``cell`` (cells only)
and ``geoip`` (the IP address only).

Usage::

    python bench/world.py load       # (re)build the world in BENCH_DB_URI / BENCH_REDIS_URI
    python bench/world.py summary    # sizes of the world and its query sets
    python bench/world.py queries --out queries.json

Loading drops and recreates the benchmark database (default
``ichnaea_bench`` on the local MariaDB) and flushes the benchmark Redis
database (default 10). It records what it loaded, so the other scripts load
only when the world changed.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import pickle
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
VAR_DIR = BENCH_DIR / "var"
DB_URI = os.environ.get("BENCH_DB_URI", "mysql+pymysql://root@127.0.0.1:3306/ichnaea_bench")
REDIS_URI = os.environ.get("BENCH_REDIS_URI", "redis://127.0.0.1:6379/10")
API_KEY = "bench"
EARTH_RADIUS = 6371009.0
M_PER_DEG = EARTH_RADIUS * math.pi / 180.0

# name, region code, mobile country code, latitude, longitude (city centres)
CITIES = [
    ("London", "GB", 234, 51.5074, -0.1278), ("Paris", "FR", 208, 48.8566, 2.3522),
    ("Berlin", "DE", 262, 52.5200, 13.4050), ("Madrid", "ES", 214, 40.4168, -3.7038),
    ("Rome", "IT", 222, 41.9028, 12.4964), ("Stockholm", "SE", 240, 59.3293, 18.0686),
    ("Helsinki", "FI", 244, 60.1699, 24.9384), ("Warsaw", "PL", 260, 52.2297, 21.0122),
    ("Istanbul", "TR", 286, 41.0082, 28.9784), ("Cairo", "EG", 602, 30.0444, 31.2357),
    ("Lagos", "NG", 621, 6.5244, 3.3792), ("Nairobi", "KE", 639, -1.2921, 36.8219),
    ("Johannesburg", "ZA", 655, -26.2041, 28.0473), ("Moscow", "RU", 250, 55.7558, 37.6173),
    ("Dubai", "AE", 424, 25.2048, 55.2708), ("Mumbai", "IN", 404, 19.0760, 72.8777),
    ("Bangkok", "TH", 520, 13.7563, 100.5018), ("Singapore", "SG", 525, 1.3521, 103.8198),
    ("Jakarta", "ID", 510, -6.2088, 106.8456), ("Beijing", "CN", 460, 39.9042, 116.4074),
    ("Seoul", "KR", 450, 37.5665, 126.9780), ("Tokyo", "JP", 440, 35.6762, 139.6503),
    ("Manila", "PH", 515, 14.5995, 120.9842), ("Sydney", "AU", 505, -33.8688, 151.2093),
    ("Auckland", "NZ", 530, -36.8485, 174.7633), ("Suva", "FJ", 542, -18.1248, 178.4501),
    ("Honolulu", "US", 310, 21.3069, -157.8583), ("Anchorage", "US", 310, 61.2181, -149.9003),
    ("Los Angeles", "US", 310, 34.0522, -118.2437), ("Vancouver", "CA", 302, 49.2827, -123.1207),
    ("Mexico City", "MX", 334, 19.4326, -99.1332), ("Chicago", "US", 310, 41.8781, -87.6298),
    ("New York", "US", 310, 40.7128, -74.0060), ("Bogota", "CO", 732, 4.7110, -74.0721),
    ("Lima", "PE", 716, -12.0464, -77.0428), ("Sao Paulo", "BR", 724, -23.5505, -46.6333),
    ("Buenos Aires", "AR", 722, -34.6037, -58.3816), ("Reykjavik", "IS", 274, 64.1466, -21.9426),
]

# GeoIP accuracy radii (km) of the world's city networks, and how often each occurs
GEOIP_RADII_KM = (5, 10, 20, 50, 100)
GEOIP_RADII_P = (0.10, 0.25, 0.30, 0.25, 0.10)
#: Rayleigh sigma per km of MaxMind accuracy radius: P(r <= radius) = 67 %
RAYLEIGH_67 = 1000.0 / math.sqrt(-2.0 * math.log(1 - 0.67))


@dataclasses.dataclass(frozen=True)
class Params:
    seed: int = 7
    cities: int = 12
    #: physical access points per city (times a per-city factor 0.6-1.4)
    wifi_aps: int = 1300
    dual_band: float = 0.3
    venues: int = 90
    reports_per_ap: float = 1.2
    venue_reports: int = 10
    phase2_share: float = 0.33
    moved: float = 0.04
    moved_far: float = 0.005
    mobile_wifi: float = 0.015
    mobile_blue: int = 60
    moved_blue: float = 0.03
    cell_sites: int = 60
    gsm_sites: float = 0.4
    # query sets
    q_wifi: int = 1500
    q_wifi_moved: int = 400
    q_wifi_mobile: int = 400
    q_blue: int = 800
    q_mixed: int = 600
    q_cell: int = 800
    q_geoip: int = 800

    def name(self) -> str:
        """Names the parameters and the model: a change of either makes a new world."""
        text = json.dumps(dataclasses.asdict(self), sort_keys=True) + MODEL_VERSION
        return f"world-{self.seed}-{hashlib.sha1(text.encode()).hexdigest()[:10]}"


#: change whenever the generator changes what it builds, so that loaded worlds are rebuilt
MODEL_VERSION = "2026-4"


@dataclasses.dataclass(frozen=True)
class Radio:
    tx_mean: float
    tx_sd: float
    exponent: float
    shadowing: float
    threshold: float
    miss: float
    reach: float  # metres beyond which nothing is heard, for the neighbour search


WIFI = Radio(tx_mean=-38.0, tx_sd=4.0, exponent=3.0, shadowing=5.0, threshold=-92.0, miss=0.1,
             reach=400.0)
BLUE = Radio(tx_mean=-64.0, tx_sd=3.0, exponent=2.5, shadowing=4.0, threshold=-95.0, miss=0.1,
             reach=120.0)
DEVICE_SD = 3.0


@dataclasses.dataclass(frozen=True)
class CellRadio:
    """A cellular layer: received dBm ``tx - 10 n log10(d) + sector gain + shadowing``."""

    name: str
    tx: float
    exponent: float
    shadowing: float
    threshold: float


CELL_RADIOS = {
    "lte": CellRadio("lte", tx=-5.0, exponent=3.5, shadowing=6.0, threshold=-120.0),
    "gsm": CellRadio("gsm", tx=25.0, exponent=3.5, shadowing=6.0, threshold=-105.0),
}
#: what share of scans (and queries) a phone makes on each layer
CELL_RADIO_SHARE = {"lte": 0.8, "gsm": 0.2}


# ---------------------------------------------------------------------------
# geometry


@dataclasses.dataclass
class City:
    index: int
    name: str
    region: str
    mcc: int
    lat: float
    lon: float
    core_sd: float
    suburb_sd: float
    block: float
    angle: float
    geoip_radius_km: int

    def to_latlon(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xy = np.atleast_2d(xy)
        lat = self.lat + xy[:, 1] / M_PER_DEG
        lon = self.lon + xy[:, 0] / (M_PER_DEG * math.cos(math.radians(self.lat)))
        return lat, lon

    def people(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Where people (and access points) are: core or suburb."""
        sd = np.where(rng.random(size) < 0.7, self.core_sd, self.suburb_sd)
        return rng.normal(0.0, 1.0, (size, 2)) * sd[:, None]

    def on_street(self, rng: np.random.Generator, xy: np.ndarray) -> np.ndarray:
        """Move each point to the nearest street of the grid (within the road's width)."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        u = xy[:, 0] * c + xy[:, 1] * s
        v = -xy[:, 0] * s + xy[:, 1] * c
        du = u - np.round(u / self.block) * self.block
        dv = v - np.round(v / self.block) * self.block
        lateral = rng.normal(0.0, 4.0, len(xy))
        snap_u = np.abs(du) < np.abs(dv)
        u = np.where(snap_u, u - du + lateral, u)
        v = np.where(snap_u, v, v - dv + lateral)
        return np.stack([u * c - v * s, u * s + v * c], axis=1)


def disk(rng: np.random.Generator, size: int, radius: float) -> np.ndarray:
    r = radius * np.sqrt(rng.random(size))
    a = rng.random(size) * 2 * math.pi
    return np.stack([r * np.cos(a), r * np.sin(a)], axis=1)


def mac_text(value: int) -> str:
    return ":".join(f"{(value >> s) & 0xFF:02x}" for s in range(40, -8, -8))


class Stations:
    """Networks of one kind in one city; positions per phase, in the city frame."""

    def __init__(self, radio: Radio, macs: list[str], xy1: np.ndarray, xy2: np.ndarray,
                 tx: np.ndarray, moved: np.ndarray, relearnt: np.ndarray) -> None:
        self.radio = radio
        self.macs = macs
        self.xy = {1: xy1, 2: xy2}
        self.tx = tx
        self.moved = moved
        self.relearnt = relearnt
        self._order = {p: np.argsort(xy[:, 0]) for p, xy in self.xy.items()}
        self._sorted_x = {p: xy[self._order[p], 0] for p, xy in self.xy.items()}

    def hear(self, rng: np.random.Generator, point: np.ndarray, phase: int,
             device: float) -> list[tuple[int, int]]:
        """(station index, signal dBm) of what a scan at ``point`` hears, strongest first."""
        r = self.radio
        lo, hi = np.searchsorted(self._sorted_x[phase], [point[0] - r.reach, point[0] + r.reach])
        idx = self._order[phase][lo:hi]
        xy = self.xy[phase][idx]
        near = np.abs(xy[:, 1] - point[1]) < r.reach
        idx, xy = idx[near], xy[near]
        if not len(idx):
            return []
        d = np.maximum(np.hypot(xy[:, 0] - point[0], xy[:, 1] - point[1]), 1.0)
        rss = (self.tx[idx] - 10 * r.exponent * np.log10(d) + device
               + rng.normal(0.0, r.shadowing, len(idx)))
        ok = (rss >= r.threshold) & (rng.random(len(idx)) >= r.miss)
        heard = sorted(zip(idx[ok].tolist(), np.round(rss[ok]).astype(int).tolist(),
                           strict=True), key=lambda p: -p[1])
        return [(i, max(min(s, -10), -100 if r is WIFI else -127)) for i, s in heard]


class Cells:
    """The cells of one city: three sectors per site on every layer the site has."""

    def __init__(self, city: City, sites: np.ndarray, layers: dict[str, np.ndarray],
                 tx: dict[str, np.ndarray]) -> None:
        self.city = city
        self.sites = sites
        #: radio -> (site index, sector) of each cell
        self.layers = layers
        self.tx = tx

    def identity(self, radio: str, cell: int) -> dict[str, Any]:
        site, sector = (int(v) for v in self.layers[radio][cell])
        x, y = self.sites[site]
        quarter = int(x > 0) * 2 + int(y > 0)  # four location areas per city and layer
        if radio == "lte":  # 28-bit cell ids: eNodeB id and sector
            cid = (self.city.index * 1000 + site) * 256 + sector + 1
        else:  # 16-bit cell ids, unique within their location area
            cid = site * 10 + sector + 1
        return {"radioType": radio, "mobileCountryCode": self.city.mcc,
                "mobileNetworkCode": 1, "locationAreaCode": 100 + self.city.index * 10 + quarter,
                "cellId": cid}

    def hear(self, rng: np.random.Generator, point: np.ndarray, radio: str,
             device: float) -> list[tuple[dict[str, Any], int]]:
        """(identity, dBm) of the cells of one layer heard at ``point``, strongest first."""
        spec = CELL_RADIOS[radio]
        layer = self.layers[radio]
        if not len(layer):
            return []
        xy = self.sites[layer[:, 0]]
        d = np.maximum(np.hypot(xy[:, 0] - point[0], xy[:, 1] - point[1]), 1.0)
        bearing = np.degrees(np.arctan2(point[0] - xy[:, 0], point[1] - xy[:, 1]))
        off = (bearing - 120.0 * layer[:, 1] + 180.0) % 360.0 - 180.0
        gain = -np.minimum(12.0 * (off / 65.0) ** 2, 20.0)
        rss = (self.tx[radio] - 10 * spec.exponent * np.log10(d) + gain + device
               + rng.normal(0.0, spec.shadowing, len(d)))
        heard = np.nonzero(rss >= spec.threshold)[0]
        heard = heard[np.argsort(-rss[heard])]
        return [(self.identity(radio, int(i)), int(round(rss[i]))) for i in heard]


# ---------------------------------------------------------------------------
# the world


@dataclasses.dataclass
class Mobile:
    mac: str
    city: int
    #: where stumblers saw it (city frame)
    sightings: np.ndarray


@dataclasses.dataclass
class World:
    params: Params
    cities: list[City]
    wifi: list[Stations]
    blue: list[Stations]
    venues: list[np.ndarray]
    cells: list[Cells]
    mobile_wifi: list[Mobile]
    mobile_blue: list[Mobile]
    #: report dicts (geosubmit v2) of each learning phase
    reports: dict[int, list[dict[str, Any]]]
    #: MAC -> (created, modified, last_seen) days before loading, for the ageing step
    ages: dict[str, tuple[int, int, int]]
    queries: list[dict[str, Any]]

    @property
    def name(self) -> str:
        return self.params.name()


def pick_cities(count: int) -> list[tuple[str, str, int, float, float]]:
    """``count`` cities spread evenly over the list (so over the continents)."""
    return [CITIES[i * len(CITIES) // count] for i in range(count)]


def build(params: Params | None = None) -> World:
    """The world of ``params``: generated (deterministically) or read from its cache file."""
    params = params or Params()
    cache = VAR_DIR / f"{params.name()}.pickle"
    if cache.exists():
        with cache.open("rb") as f:
            return pickle.load(f)
    world = generate(params)
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    with tmp.open("wb") as f:
        pickle.dump(world, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, cache)
    return world


def generate(params: Params) -> World:
    """Generate the world (no database involved); deterministic for given params."""
    rng = np.random.default_rng(params.seed)
    cities, wifi, blue, venues, cells = [], [], [], [], []
    mobile_wifi: list[Mobile] = []
    mobile_blue: list[Mobile] = []
    used_macs: set[int] = set()

    def new_macs(size: int) -> list[int]:
        out: list[int] = []
        while len(out) < size:
            value = int(rng.integers(0, 2**48)) & ~(0x03 << 40) & ~1
            if value not in used_macs:
                used_macs.add(value)
                out.append(value)
        return out

    for index, (name, region, mcc, lat, lon) in enumerate(pick_cities(params.cities)):
        core = float(rng.uniform(350, 600))
        city = City(index, name, region, mcc, lat, lon, core, core * float(rng.uniform(2, 3)),
                    float(rng.uniform(70, 140)), float(rng.uniform(0, math.pi / 2)),
                    int(rng.choice(GEOIP_RADII_KM, p=GEOIP_RADII_P)))
        cities.append(city)
        wifi.append(_wifi_stations(rng, params, city, new_macs))
        cells.append(_cells(rng, params, city))
        city_venues, city_blue = _blue_stations(rng, params, city, new_macs)
        venues.append(city_venues)
        blue.append(city_blue)
        for kind, count, target in (("wifi", int(params.mobile_wifi * len(wifi[-1].macs)),
                                     mobile_wifi),
                                    ("blue", params.mobile_blue, mobile_blue)):
            for value in new_macs(count):
                spots = int(rng.integers(2, 13 if kind == "wifi" else 7))
                if kind == "wifi":
                    sightings = city.on_street(rng, city.people(rng, spots))
                else:
                    sightings = city_venues[rng.integers(0, len(city_venues), spots)]
                    sightings = sightings + disk(rng, spots, 15.0)
                target.append(Mobile(mac_text(value), index, sightings))

    world = World(params, cities, wifi, blue, venues, cells, mobile_wifi, mobile_blue,
                  reports={}, ages={}, queries=[])
    world.reports = {1: _reports(rng, world, 1), 2: _reports(rng, world, 2)}
    world.ages = _ages(rng, world)
    world.queries = _queries(rng, world)
    return world


def _wifi_stations(rng: np.random.Generator, params: Params, city: City,
                   new_macs: Any) -> Stations:
    count = int(params.wifi_aps * rng.uniform(0.6, 1.4))
    xy1 = city.people(rng, count)
    xy2 = xy1.copy()
    moved = rng.random(count) < params.moved + params.moved_far
    far = moved & (rng.random(count) < params.moved_far / (params.moved + params.moved_far))
    dist = np.where(far, rng.uniform(6000, 30000, count),
                    np.exp(rng.uniform(math.log(30), math.log(3000), count)))
    angle = rng.uniform(0, 2 * math.pi, count)
    xy2[moved, 0] += dist[moved] * np.cos(angle[moved])
    xy2[moved, 1] += dist[moved] * np.sin(angle[moved])
    relearnt = moved & (rng.random(count) < 0.5)
    tx = rng.normal(WIFI.tx_mean, WIFI.tx_sd, count)
    dual = rng.random(count) < params.dual_band
    values = new_macs(count)
    macs, rows = [], []
    for i, value in enumerate(values):
        macs.append(mac_text(value))
        rows.append((i, 0.0))
        if dual[i]:
            macs.append(mac_text(value + 1))
            rows.append((i, -6.0))
    ap = np.array([r[0] for r in rows])
    offset = np.array([r[1] for r in rows])
    return Stations(WIFI, macs, xy1[ap], xy2[ap], tx[ap] + offset, moved[ap], relearnt[ap])


def _cells(rng: np.random.Generator, params: Params, city: City) -> Cells:
    sites = city.people(rng, params.cell_sites)
    layers, tx = {}, {}
    for radio in CELL_RADIOS:
        with_layer = np.arange(len(sites)) if radio == "lte" else \
            np.nonzero(rng.random(len(sites)) < params.gsm_sites)[0]
        layers[radio] = np.array([(site, sector) for site in with_layer for sector in range(3)],
                                 dtype=int).reshape(-1, 2)
        tx[radio] = CELL_RADIOS[radio].tx + rng.normal(0.0, 2.0, len(layers[radio]))
    return Cells(city, sites, layers, tx)


def _blue_stations(rng: np.random.Generator, params: Params, city: City,
                   new_macs: Any) -> tuple[np.ndarray, Stations]:
    venues = rng.normal(0.0, city.core_sd, (params.venues, 2))
    per = rng.integers(2, 9, params.venues)
    venue_of = np.repeat(np.arange(params.venues), per)
    xy1 = venues[venue_of] + disk(rng, len(venue_of), 12.0)
    xy2 = xy1.copy()
    moved = rng.random(len(venue_of)) < params.moved_blue
    elsewhere = rng.integers(0, params.venues, len(venue_of))
    xy2[moved] = venues[elsewhere[moved]] + disk(rng, int(moved.sum()), 12.0)
    relearnt = moved & (rng.random(len(venue_of)) < 0.5)
    tx = rng.normal(BLUE.tx_mean, BLUE.tx_sd, len(venue_of))
    macs = [mac_text(v) for v in new_macs(len(venue_of))]
    return venues, Stations(BLUE, macs, xy1, xy2, tx, moved, relearnt)


def _scan(rng: np.random.Generator, world: World, city: int, point: np.ndarray, phase: int,
          extra_wifi: Sequence[tuple[str, int]] = (), extra_blue: Sequence[tuple[str, int]] = (),
          ) -> tuple[list[tuple[str, int]], list[tuple[str, int]], list[dict[str, Any]]]:
    """What a phone at ``point`` hears: WiFi, beacons, and its serving cell (with one or
    two neighbours half of the time) on the layer it is camped on."""
    device = float(rng.normal(0.0, DEVICE_SD))
    wifi = world.wifi[city]
    blue = world.blue[city]
    heard_wifi = [(wifi.macs[i], s) for i, s in wifi.hear(rng, point, phase, device)]
    heard_blue = [(blue.macs[i], s) for i, s in blue.hear(rng, point, phase, device)]
    radio = "lte" if rng.random() < CELL_RADIO_SHARE["lte"] else "gsm"
    heard_cells = world.cells[city].hear(rng, point, radio, device)
    keep = 1 + (int(rng.integers(1, 3)) if rng.random() < 0.5 else 0)
    cells = [dict(identity, signalStrength=s) for identity, s in heard_cells[:keep]]
    return list(extra_wifi) + heard_wifi, list(extra_blue) + heard_blue, cells


def _report(city: City, rng: np.random.Generator, point: np.ndarray, gps_sd: float,
            wifi: list[tuple[str, int]], blue: list[tuple[str, int]],
            cells: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not wifi and not blue and not cells:
        return None
    measured = point + rng.normal(0.0, gps_sd, 2)
    lat, lon = city.to_latlon(measured)
    return {
        "position": {"latitude": round(float(lat[0]), 7), "longitude": round(float(lon[0]), 7),
                     "accuracy": round(1.5 * gps_sd, 1), "source": "gnss"},
        "wifiAccessPoints": [{"macAddress": m, "signalStrength": s} for m, s in wifi],
        "bluetoothBeacons": [{"macAddress": m, "signalStrength": s} for m, s in blue],
        "cellTowers": cells,
    }


def _reports(rng: np.random.Generator, world: World, phase: int) -> list[dict[str, Any]]:
    params = world.params
    share = 1.0 if phase == 1 else params.phase2_share
    out: list[dict[str, Any]] = []

    def add(city: City, point: np.ndarray, gps_sd: float, **extra: Any) -> None:
        wifi, blue, cells = _scan(rng, world, city.index, point, phase, **extra)
        report = _report(city, rng, point, gps_sd, wifi, blue, cells)
        if report is not None:
            out.append(report)

    for city in world.cities:
        stations = world.wifi[city.index]
        count = int(share * params.reports_per_ap * len(stations.macs) / (1 + params.dual_band))
        points = city.people(rng, count)
        street = rng.random(count) < 0.85
        points[street] = city.on_street(rng, points[street])
        for point in points:
            add(city, point, float(rng.uniform(2, 6)))
        venues = world.venues[city.index]
        for venue in venues:
            for point in venue + disk(rng, int(share * params.venue_reports), 15.0):
                add(city, point, float(rng.uniform(5, 12)))
        if phase == 2:  # half of the moved networks were stumbled past again
            for kind in (world.wifi, world.blue):
                st = kind[city.index]
                for i in np.nonzero(st.relearnt)[0]:
                    for point in st.xy[2][i] + disk(rng, int(rng.integers(1, 4)), 30.0):
                        add(city, point, float(rng.uniform(2, 6)))
        else:  # mobile networks are seen where they happen to be
            mobiles = [(m, True) for m in world.mobile_wifi] + \
                [(m, False) for m in world.mobile_blue]
            for mob, is_wifi in mobiles:
                if mob.city != city.index:
                    continue
                for point in mob.sightings:
                    signal = int(rng.uniform(-65, -40) if is_wifi else rng.uniform(-80, -55))
                    extra = {"extra_wifi": [(mob.mac, signal)]} if is_wifi else \
                        {"extra_blue": [(mob.mac, signal)]}
                    add(city, point, float(rng.uniform(2, 8)), **extra)
    order = rng.permutation(len(out))
    return [out[i] for i in order]


def cell_key(identity: dict[str, Any]) -> str:
    return "cell:{radioType}:{mobileCountryCode}:{mobileNetworkCode}:{locationAreaCode}:" \
        "{cellId}".format(**identity)


def _ages(rng: np.random.Generator, world: World) -> dict[str, tuple[int, int, int]]:
    """Days before loading each station was created, last changed and last seen."""
    macs = [m for st in world.wifi + world.blue for m in st.macs]
    macs += [m.mac for m in world.mobile_wifi + world.mobile_blue]
    macs += [cell_key(c.identity(radio, i)) for c in world.cells for radio in c.layers
             for i in range(len(c.layers[radio]))]
    created = rng.uniform(20, 1500, len(macs))
    modified = np.where(rng.random(len(macs)) < 0.15, rng.uniform(180, 1000, len(macs)),
                        rng.exponential(90, len(macs)))
    modified = np.minimum(modified, created - 10)
    seen = modified * rng.random(len(macs))
    return {m: (int(c), int(mo), int(s)) for m, c, mo, s in
            zip(macs, created, modified, seen, strict=True)}


# ---------------------------------------------------------------------------
# query sets


def geoip_network(city: City) -> str:
    return f"45.{city.index}.0.0/16"


def city_ip(rng: np.random.Generator, city: City) -> str:
    return f"45.{city.index}.{int(rng.integers(0, 256))}.{int(rng.integers(1, 255))}"


def _queries(rng: np.random.Generator, world: World) -> list[dict[str, Any]]:
    params = world.params
    out: list[dict[str, Any]] = []

    def emit(kind: str, city: City, point: np.ndarray, wifi: list[tuple[str, int]],
             blue: list[tuple[str, int]], ip: str | None = None,
             cells: list[dict[str, Any]] | None = None, **tags: Any) -> None:
        lat, lon = city.to_latlon(point)
        body: dict[str, Any] = {"considerIp": ip is not None}
        if cells:
            body["cellTowers"] = cells
        if wifi:
            body["wifiAccessPoints"] = [{"macAddress": m, "signalStrength": s} for m, s in wifi]
        if blue:
            body["bluetoothBeacons"] = [{"macAddress": m, "signalStrength": s} for m, s in blue]
        out.append({"id": len(out), "kind": kind, "city": city.index, "body": body, "ip": ip,
                    "lat": float(lat[0]), "lon": float(lon[0]), "tags": tags})

    def pick_city() -> City:
        return world.cities[int(rng.integers(0, len(world.cities)))]

    def person(city: City) -> np.ndarray:
        point = city.people(rng, 1)
        return city.on_street(rng, point)[0] if rng.random() < 0.5 else point[0]

    def many(count: int, make: Any) -> None:
        made, tries = 0, 0
        while made < count and tries < count * 50:
            tries += 1
            made += bool(make())

    def wifi_query(kind: str = "wifi", mobile: bool = False) -> bool:
        city = pick_city()
        point = person(city)
        extra: list[tuple[str, int]] = []
        if mobile:
            options = [m for m in world.mobile_wifi if m.city == city.index]
            hotspot = options[int(rng.integers(0, len(options)))]
            extra = [(hotspot.mac, int(rng.uniform(-55, -35)))]
        wifi, _, _ = _scan(rng, world, city.index, point, 2, extra_wifi=extra)
        if len(wifi) < 2:
            return False
        emit(kind, city, point, wifi, [], networks=len(wifi))
        return True

    def moved_query() -> bool:
        city = pick_city()
        st = world.wifi[city.index]
        candidates = np.nonzero(st.moved)[0]
        i = int(candidates[int(rng.integers(0, len(candidates)))])
        point = st.xy[2][i] + disk(rng, 1, 30.0)[0]
        wifi, _, _ = _scan(rng, world, city.index, point, 2)
        if st.macs[i] not in {m for m, _ in wifi} or len(wifi) < 2:
            return False
        moved_by = float(np.hypot(*(st.xy[2][i] - st.xy[1][i])))
        emit("wifi_moved", city, point, wifi, [], networks=len(wifi), moved_by=moved_by,
             relearnt=bool(st.relearnt[i]))
        return True

    def venue_point(city: City) -> np.ndarray:
        venues = world.venues[city.index]
        return venues[int(rng.integers(0, len(venues)))] + disk(rng, 1, 15.0)[0]

    def blue_query() -> bool:
        city = pick_city()
        point = venue_point(city)
        extra: list[tuple[str, int]] = []
        if rng.random() < 1 / 3:
            options = [m for m in world.mobile_blue if m.city == city.index]
            wearable = options[int(rng.integers(0, len(options)))]
            extra = [(wearable.mac, int(rng.uniform(-75, -50)))]
        _, blue, _ = _scan(rng, world, city.index, point, 2, extra_blue=extra)
        if len(blue) < 2:
            return False
        emit("blue", city, point, [], blue, networks=len(blue), wearable=bool(extra))
        return True

    def mixed_query() -> bool:
        city = pick_city()
        point = venue_point(city) if rng.random() < 0.5 else person(city)
        wifi, blue, cells = _scan(rng, world, city.index, point, 2)
        if len(wifi) + len(blue) < 2:
            return False
        emit("mixed", city, point, wifi, blue, ip=city_ip(rng, city), cells=cells,
             networks=len(wifi) + len(blue) + len(cells))
        return True

    def cell_query() -> bool:
        city = pick_city()
        point = person(city)
        _, _, cells = _scan(rng, world, city.index, point, 2)
        if not cells:
            return False
        emit("cell", city, point, [], [], cells=cells, networks=len(cells))
        return True

    def geoip_query() -> bool:
        city = pick_city()
        sigma = city.geoip_radius_km * RAYLEIGH_67
        point = rng.normal(0.0, sigma, 2)
        emit("geoip", city, point, [], [], ip=city_ip(rng, city),
             geoip_radius_km=city.geoip_radius_km)
        return True

    many(params.q_wifi, wifi_query)
    many(params.q_wifi_moved, moved_query)
    many(params.q_wifi_mobile, lambda: wifi_query("wifi_mobile", mobile=True))
    many(params.q_blue, blue_query)
    many(params.q_mixed, mixed_query)
    many(params.q_cell, cell_query)
    many(params.q_geoip, geoip_query)
    return out


# ---------------------------------------------------------------------------
# GeoIP database of the world


def write_geoip(world: World, path: Path) -> Path:
    """A GeoIP2-City database with one /16 network per city of the world."""
    from mmdb_writer import MmdbF64, MmdbU16, MmdbU32, MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-City",
                        languages=["en"], description={"en": "ichnaea benchmark world"})
    for city in world.cities:
        country = {"iso_code": city.region, "names": {"en": city.region}}
        writer.insert_network(IPSet([geoip_network(city)]), {
            "city": {"geoname_id": MmdbU32(9_000_000 + city.index), "names": {"en": city.name}},
            "country": country,
            "registered_country": country,
            "location": {"accuracy_radius": MmdbU16(city.geoip_radius_km),
                         "latitude": MmdbF64(city.lat), "longitude": MmdbF64(city.lon)},
        })
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    writer.to_db_file(str(tmp))
    os.replace(tmp, path)
    return path


# ---------------------------------------------------------------------------
# loading through the pipeline


def configure_env(db_uri: str = DB_URI, redis_uri: str = REDIS_URI) -> None:
    """Point the service's own settings (as an operator would) at the bench servers."""
    os.environ["DB_READWRITE_URI"] = db_uri
    os.environ["DB_READONLY_URI"] = db_uri
    os.environ["REDIS_URI"] = redis_uri
    os.environ["ICHNAEA_VAR_DIR"] = str(VAR_DIR)
    os.environ["GEOIP_PATH"] = str(VAR_DIR / "world-geoip.mmdb")
    os.environ.setdefault("LOGGING_LEVEL", "WARNING")
    # one client sends every query: the per-address and per-block limits
    # (bench/limits.py measures them) would refuse most of them
    for name in ("ICHNAEA_LOCATE_LIMIT_IP", "ICHNAEA_LOCATE_LIMIT_PREFIX"):
        os.environ.setdefault(name, "0")


def runtime() -> Any:
    from ichnaea_host.core.log import configure_logging
    from ichnaea_host.plugins.runtime import Runtime

    configure_logging(os.environ.get("LOGGING_LEVEL", "WARNING"))
    return Runtime()


def loaded_world(rt: Any) -> str | None:
    try:
        cursor = rt.db.rw.execute_sql("SELECT name FROM bench_world")
    except Exception:  # noqa: BLE001 - no marker table: nothing loaded
        rt.db.rw.rollback()
        return None
    row = cursor.fetchone()
    return row[0] if row else None


def _drop_database(db_uri: str) -> None:
    import pymysql

    from ichnaea_host.core.db import _parse_mysql

    name, options = _parse_mysql(db_uri)
    conn = pymysql.connect(**{k: options[k] for k in ("host", "port", "user", "password")})
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()


def ensure_loaded(world: World, *, force: bool = False, log: Any = print) -> Any:
    """A runtime on the bench database holding ``world``; loads it when needed."""
    configure_env()
    write_geoip(world, VAR_DIR / "world-geoip.mmdb")
    rt = runtime()
    if not force and loaded_world(rt) == world.name:
        return rt
    rt.close()
    _drop_database(DB_URI)
    rt = runtime()
    rt.redis.flushdb()
    load(rt, world, log=log)
    return rt


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def load(rt: Any, world: World, *, log: Any = print) -> None:
    from ichnaea_host.core import migrate
    from ichnaea_host.core.models import ApiKeyRow, ExportConfig
    from ichnaea_host.plugins.runtime import INCOMING_QUEUE

    migrate.upgrade(rt.db.rw, rt.plugins.migration_dirs)
    ExportConfig.create(name="internal", batch=0, schema="internal")
    ApiKeyRow.create(valid_key=API_KEY, maxreq=0, allow_fallback=False, allow_locate=True,
                  allow_region=True, store_sample_locate=0, store_sample_submit=100)
    now_ms = int(time.time() * 1000)
    for phase in (1, 2):
        start = time.perf_counter()
        reports = world.reports[phase]
        queue = rt.queue(INCOMING_QUEUE)
        for chunk in _chunks(reports, 1000):
            queue.enqueue([{"api_key": API_KEY, "source": "gnss",
                            "report": dict(r, timestamp=now_ms)} for r in chunk])
        runs = drain_parallel(rt)
        observations = sum(len(r["wifiAccessPoints"]) + len(r["bluetoothBeacons"])
                           + len(r["cellTowers"]) for r in reports)
        seconds = time.perf_counter() - start
        log(f"phase {phase}: {len(reports)} reports, {observations} observations "
            f"through the pipeline in {seconds:.1f} s ({observations / seconds:.0f}/s); "
            f"runs {dict(sorted(runs.items()))}")
        if phase == 1:
            age_stations(rt, world)
    rt.db.rw.execute_sql("CREATE TABLE bench_world (name VARCHAR(64) PRIMARY KEY)")
    rt.db.rw.execute_sql("INSERT INTO bench_world (name) VALUES (%s)", (world.name,))


def _drain_shards(part: int, parts: int) -> int:
    """Apply the queued observations of every ``parts``-th shard (a child process)."""
    from ichnaea_host.pipeline.tasks import station_queues, update_stations

    configure_env()
    rt = runtime()
    runs = 0
    try:
        for number, queue in enumerate(station_queues(rt)):
            if number % parts == part:
                while rt.queue(queue).size():
                    update_stations(rt, queue.updater, queue.shard)
                    runs += 1
    finally:
        rt.close()
    return runs


def drain_parallel(rt: Any, processes: int = 2) -> dict[str, int]:
    """The pipeline's drain, with the station shards shared by ``processes`` processes.

    Each work partition has its own queue and its own networks, so two
    processes never touch the same rows; the host's ``drain`` then finishes whatever is left.
    """
    import multiprocessing

    from ichnaea_host.core.queues import ExportPartition
    from ichnaea_host.pipeline.tasks import drain, export_reports, update_incoming
    from ichnaea_host.plugins.runtime import INCOMING_QUEUE

    while rt.queue(INCOMING_QUEUE).size():
        update_incoming(rt)
    export_queue = ExportPartition("internal")
    while rt.queue(export_queue).size():
        export_reports(rt, export_queue, force=True)
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        runs = sum(pool.starmap(_drain_shards, [(p, processes) for p in range(processes)]))
    return {"update_stations": runs, **drain(rt)}


def age_stations(rt: Any, world: World) -> None:
    """Move the dates the pipeline stamped "now" back to the world's station ages
    (cell areas take the dates of their cells)."""
    from ichnaea_blue.models import MODEL as BLUE_MODEL
    from ichnaea_cell.cells import RADIO_CODES, RADIO_NAMES
    from ichnaea_cell.models import CELL_MODELS
    from ichnaea_host.core.db import upsert
    from ichnaea_host.stations import utcnow
    from ichnaea_wifi.models import MODEL as WIFI_MODEL

    def key_of(row: dict[str, Any]) -> str:
        if "mac" in row:
            return ":".join(row["mac"][i:i + 2] for i in range(0, 12, 2))
        return (f"cell:{RADIO_NAMES[row['radio']]}:{row['mcc']}:{row['mnc']}:{row['lac']}:"
                f"{row['cid']}")

    now = utcnow()
    models = [WIFI_MODEL, BLUE_MODEL, *CELL_MODELS.values()]
    for model in models:
        rows = []
        for row in model.select().dicts():
            created, modified, seen = world.ages[key_of(row)]
            row.update(created=now - timedelta(days=created),
                       modified=now - timedelta(days=modified),
                       last_seen=(now - timedelta(days=seen)).date())
            if row["block_last"] is not None:  # blocked when it was last changed
                row["block_first"] = row["block_last"] = row["modified"].date()
            rows.append(row)
        key = model._meta.primary_key
        fields = [model.created, model.modified, model.last_seen, model.block_first,
                  model.block_last]
        with model._meta.database.atomic():
            upsert(model, rows, conflict_target=[key], preserve=fields)
    for radio, model in CELL_MODELS.items():
        table = model._meta.table_name
        match = (f"FROM {table} c WHERE c.radio = cell_area.radio AND c.mcc = cell_area.mcc "
                 "AND c.mnc = cell_area.mnc AND c.lac = cell_area.lac")
        rt.db.rw.execute_sql(
            f"UPDATE cell_area SET created = (SELECT MIN(c.created) {match}), "
            f"modified = (SELECT MAX(c.modified) {match}), "
            f"last_seen = (SELECT MAX(c.last_seen) {match}) "
            f"WHERE radio = {RADIO_CODES[radio]}")


# ---------------------------------------------------------------------------
# command line


def summary(world: World) -> dict[str, Any]:
    kinds: dict[str, int] = {}
    for q in world.queries:
        kinds[q["kind"]] = kinds.get(q["kind"], 0) + 1
    return {
        "name": world.name,
        "cities": len(world.cities),
        "wifi_networks": sum(len(s.macs) for s in world.wifi),
        "wifi_moved": int(sum(s.moved.sum() for s in world.wifi)),
        "wifi_mobile": len(world.mobile_wifi),
        "beacons": sum(len(s.macs) for s in world.blue),
        "beacons_moved": int(sum(s.moved.sum() for s in world.blue)),
        "beacons_mobile": len(world.mobile_blue),
        "cells": sum(len(layer) for c in world.cells for layer in c.layers.values()),
        "reports": {p: len(r) for p, r in world.reports.items()},
        "observations": {p: sum(len(x["wifiAccessPoints"]) + len(x["bluetoothBeacons"])
                                + len(x["cellTowers"]) for x in r)
                         for p, r in world.reports.items()},
        "queries": kinds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["load", "summary", "queries"])
    parser.add_argument("--seed", type=int, default=Params.seed)
    parser.add_argument("--cities", type=int, default=Params.cities)
    parser.add_argument("--out", type=Path, help="file for `queries` (default: stdout)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    world = build(Params(seed=args.seed, cities=args.cities))
    print(f"built {world.name} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    if args.command == "summary":
        print(json.dumps(summary(world), indent=2))
    elif args.command == "queries":
        text = json.dumps(world.queries)
        if args.out:
            args.out.write_text(text)
        else:
            print(text)
    else:
        rt = ensure_loaded(world, force=True, log=lambda m: print(m, file=sys.stderr))
        rt.close()
        print(json.dumps(summary(world), indent=2))
    return 0


if __name__ == "__main__":
    # run as the module "world", as the other scripts import it (so that cached worlds unpickle)
    sys.path.insert(0, str(BENCH_DIR))
    import world

    sys.exit(world.main())
