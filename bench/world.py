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
  as stumbler apps do) to ``update_incoming``, in a random order over 14
  service days (:data:`LEARN_DAYS`), and drains the pipeline after each day
  (the host's pipeline steps; the station shards shared by two processes),
  so that the service measures its accuracy on the reports as it learns
  (:func:`service_day`); then
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

**Other shapes** (issue 28). The radius formula and the ``?confidence=``
tables were fitted on the world above, so :class:`Params` also has knobs for
what changes the answer: the cities' spread and density (``core_sd``,
``suburb_factor``, ``core_share``, ``building_aps``), the WiFi signal model
and its noise (``wifi_radio``: ``model="log"`` or ``"disk"``, exponent,
shadowing, threshold, ranges; ``device_sd``), the stumbling (``street_share``,
``street_every`` for drive-by on main roads, ``trip_scans`` / ``trip_step``
for trips whose fixes share a ``gps_bias``), observations per network
(``reports_per_ap``, or ``obs_per_network`` and ``min_obs``), the GPS error
of the reports (``gps_scale``, ``gps_outliers``) and the cells
(``cell_sites``, ``cell_spread``, ``cell_exponent``, ``cell_shadowing``,
``lte_share``, ``neighbours``). Their defaults are the world above (whose
name, and so its cache and database, stay what they were). :data:`PRESETS`
names worlds: ``ours`` (the default), ``ours6`` (the same with six cities),
``sparse`` and ``dense``; ``name:knob=value:...`` changes a preset's knobs
(``sparse:gps_scale=1.0:wifi_radio.shadowing=4.0``). Every world, whatever
its shape, is learnt the same way: its GNSS-tagged reports go through the
service's pipeline (``update_incoming``, the internal export, the station
updaters), never written as station rows.

Usage::

    python bench/world.py load       # (re)build the world in BENCH_DB_URI / BENCH_REDIS_URI
    python bench/world.py load --world sparse   # in ichnaea_bench_sparse / Redis database 7
    python bench/world.py summary --world dense # sizes, and how often networks were observed
    python bench/world.py queries --out queries.json

Loading drops and recreates the benchmark database (default
``ichnaea_bench`` on the local MariaDB; ``ichnaea_bench_<preset>`` for the
other presets) and flushes the benchmark Redis database (default 10; each
preset its own, :data:`PRESET_REDIS_DB`). It records what it loaded, so the
other scripts load only when the world changed.
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
from datetime import date, timedelta
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
class Radio:
    """A short-range radio: how a scan hears a network.

    ``model="log"``: received dBm ``tx - 10 n log10(d) + shadowing + device``,
    heard down to ``threshold``. ``model="disk"``: each network has its own
    range (``range_m`` times a log-normal factor of sigma ``range_sd``) and is
    heard anywhere within it; the signal falls linearly from ``tx`` at the
    network to ``threshold`` at its range (plus shadowing and the device
    offset), so it says how far in the range one is, not how many metres.
    """

    tx_mean: float
    tx_sd: float
    exponent: float
    shadowing: float
    threshold: float
    miss: float
    reach: float  # metres beyond which nothing is heard, for the neighbour search
    model: str = "log"
    range_m: float = 0.0
    range_sd: float = 0.0


WIFI = Radio(tx_mean=-38.0, tx_sd=4.0, exponent=3.0, shadowing=5.0, threshold=-92.0, miss=0.1,
             reach=400.0)
BLUE = Radio(tx_mean=-64.0, tx_sd=3.0, exponent=2.5, shadowing=4.0, threshold=-95.0, miss=0.1,
             reach=120.0)
DEVICE_SD = 3.0


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
    # --- the shape of the world (issue 28): the defaults are the world above ---
    #: a city's core: normal sigma (m), drawn per city from this range; its
    #: suburb is ``suburb_factor`` times wider; ``core_share`` of the access
    #: points (and people) live in the core
    core_sd: tuple[float, float] = (350.0, 600.0)
    suburb_factor: tuple[float, float] = (2.0, 3.0)
    core_share: float = 0.7
    #: access points per building (1: each on its own), within ``building_m``
    building_aps: int = 1
    building_m: float = 15.0
    #: street grid block (m), drawn per city
    block: tuple[float, float] = (70.0, 140.0)
    #: the WiFi radio model (see :class:`Radio`) and the phone's offset (dB sigma)
    wifi_radio: Radio = WIFI
    device_sd: float = DEVICE_SD
    #: stumbling: share of scans on a street; stumblers use only every
    #: ``street_every``-th street of the grid (1: all; 4: main roads, drive-by)
    street_share: float = 0.85
    street_every: int = 1
    #: observations per WiFi network: when > 0, phase 1 scans each city until
    #: its WiFi observations reach this many per network (``reports_per_ap``
    #: is then ignored); ``min_obs`` then adds scans next to every access point
    #: heard fewer times, until it is heard at least that often
    obs_per_network: float = 0.0
    min_obs: int = 0
    #: stumbling in trips: when > 0, street scans come in trips of this many,
    #: ``trip_step`` metres apart along a street, whose GPS fixes share one
    #: error (sigma ``gps_bias`` m, the receiver's drift over a trip) besides
    #: their own
    trip_scans: int = 0
    trip_step: float = 25.0
    gps_bias: float = 0.0
    #: GPS error of the stumbling reports: the sigmas (2-6 m streets, 5-12 m
    #: venues) times ``gps_scale``; ``gps_outliers`` of the reports are off by
    #: ``gps_outlier_m`` (uniform) more, while claiming their usual accuracy
    gps_scale: float = 1.0
    gps_outliers: float = 0.0
    gps_outlier_m: tuple[float, float] = (30.0, 150.0)
    #: cells: exponent and shadowing of both layers, the sites' spread (times
    #: the access points'), the share of LTE scans, of scans with neighbours
    cell_exponent: float = 3.5
    cell_shadowing: float = 6.0
    cell_spread: float = 1.0
    lte_share: float = 0.8
    neighbours: float = 0.5

    def name(self) -> str:
        """Names the parameters and the model: a change of either makes a new world.

        The shape knobs count only when they differ from their defaults, so
        the default world keeps its name (and cache) from before they existed.
        """
        values = dataclasses.asdict(self)
        for field in dataclasses.fields(self):
            if field.name in SHAPE_KNOBS and getattr(self, field.name) == field.default:
                del values[field.name]
        text = json.dumps(values, sort_keys=True) + MODEL_VERSION
        return f"world-{self.seed}-{hashlib.sha1(text.encode()).hexdigest()[:10]}"

    def replace(self, **changes: Any) -> Params:
        return dataclasses.replace(self, **changes)


SHAPE_KNOBS = frozenset((
    "core_sd", "suburb_factor", "core_share", "building_aps", "building_m", "block",
    "wifi_radio", "device_sd",
    "street_share", "street_every", "obs_per_network", "min_obs", "trip_scans", "trip_step",
    "gps_bias", "gps_scale", "gps_outliers",
    "gps_outlier_m", "cell_exponent", "cell_shadowing", "cell_spread", "lte_share",
    "neighbours"))


#: change whenever the generator changes what it builds, so that loaded worlds are rebuilt
MODEL_VERSION = "2026-4"


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
# worlds of other shapes (issue 28): the service's radius and confidence tables
# were fitted on the default world; these are worlds it was not tuned on

#: a drive-by world with about two observations per network seen: 20,000 WiFi
#: MACs and 2,000 cells in four towns; stumblers drive main roads (every third
#: street) in trips of 20 scans 30 m apart whose GPS fixes share an 8 m drift,
#: 3-9 m error of their own and one fix in twenty off by 30-150 m; the signal
#: is shadowed as ours (6 dB), the transmitters 2 dB weaker (-40 dBm at 1 m) and
#: more varied (5 dB), heard down to -88 dBm (a 40 m median range); cells are spread
#: five times wider and heard farther (exponent 2.6)
SPARSE_WIFI = Radio(tx_mean=-40.0, tx_sd=5.0, exponent=3.0, shadowing=6.0, threshold=-88.0,
                    miss=0.2, reach=400.0)
#: a city where every access point is heard within its own range (60 m, times
#: a log-normal of sigma 0.15) and the signal falls linearly over it; access
#: points in pairs (two flats of a building, within 15 m), every one observed at
#: least six times (scans next to the few the stumblers' trips missed), trips
#: of 20 scans 25 m apart sharing a 6 m GPS drift; 30 cell sites a city, spread
#: six times wider than the access points
DENSE_WIFI = Radio(tx_mean=-45.0, tx_sd=5.0, exponent=0.0, shadowing=4.0, threshold=-90.0,
                   miss=0.05, reach=120.0, model="disk", range_m=60.0, range_sd=0.15)

_NEW_WORLD = dict(moved=0.0, moved_far=0.0, mobile_wifi=0.0, mobile_blue=0, moved_blue=0.0,
                  q_wifi_moved=0, q_wifi_mobile=0, q_geoip=0)

PRESETS: dict[str, Params] = {
    # the world above, as tuned on
    "ours": Params(),
    # the same world, half the cities: the same densities, half the load
    "ours6": Params(cities=6, q_wifi=1000, q_wifi_moved=300, q_wifi_mobile=300, q_blue=500,
                    q_mixed=400, q_cell=800, q_geoip=400),
    "sparse": Params(cities=4, wifi_aps=3850, core_sd=(500.0, 900.0), block=(90.0, 160.0),
                     wifi_radio=SPARSE_WIFI, device_sd=4.0, street_share=0.95, street_every=3,
                     trip_scans=20, trip_step=30.0, gps_bias=8.0, gps_scale=1.5,
                     gps_outliers=0.05, obs_per_network=1.0, phase2_share=0.2, venues=30,
                     cell_sites=160, gsm_sites=0.1, cell_exponent=2.6, cell_shadowing=8.0,
                     cell_spread=5.0, neighbours=0.8, q_wifi=1000, q_blue=300, q_mixed=300,
                     q_cell=800, **_NEW_WORLD),
    "dense": Params(cities=3, wifi_aps=2000, core_sd=(250.0, 400.0), block=(60.0, 100.0),
                    building_aps=2, building_m=15.0, wifi_radio=DENSE_WIFI,
                    obs_per_network=2.0, min_obs=6, street_share=0.95, trip_scans=20,
                    trip_step=25.0, gps_bias=6.0, phase2_share=0.2, venues=40, cell_sites=30,
                    cell_spread=6.0, cell_exponent=2.6, q_wifi=1000, q_blue=300, q_mixed=300,
                    q_cell=800, **_NEW_WORLD),
}
#: each preset's own Redis database (the other benches use 10-14, the tests 13 and
#: whatever ICHNAEA_TEST_REDIS_URI says: engineers' runs were seen on 1, 3, 4, 9
#: and 15); ``BENCH_REDIS_URI_<PRESET>`` (e.g. ``BENCH_REDIS_URI_SPARSE``) overrides
PRESET_REDIS_DB = {"ours": 10, "ours6": 5, "sparse": 7, "dense": 8}


def preset(spec: str) -> tuple[str, Params]:
    """``name`` or ``name:knob=value:knob=value`` (values as Python literals,
    e.g. ``sparse:gps_scale=1.0:obs_per_network=4:wifi_radio.shadowing=6``):
    a preset, changed."""
    import ast

    name, *changes = spec.split(":")
    if name not in PRESETS:
        raise SystemExit(f"unknown world {name!r}: one of {', '.join(PRESETS)}")
    params = PRESETS[name]
    for change in changes:
        knob, _, text = change.partition("=")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text  # a bare word: wifi_radio.model=disk
        if knob.startswith("wifi_radio."):
            field = knob.split(".", 1)[1]
            if field not in {f.name for f in dataclasses.fields(Radio)}:
                raise SystemExit(f"unknown radio knob {field!r} in {spec!r}")
            params = params.replace(
                wifi_radio=dataclasses.replace(params.wifi_radio, **{field: value}))
            continue
        if knob not in {f.name for f in dataclasses.fields(Params)}:
            raise SystemExit(f"unknown knob {knob!r} in {spec!r}")
        params = params.replace(**{knob: value})
    return name, params


def backends(label: str, params: Params) -> tuple[str, str]:
    """The database and Redis URIs of a world: the default world keeps
    ``BENCH_DB_URI`` / ``BENCH_REDIS_URI``; every other one has a database of
    its own (``ichnaea_bench_<preset>``) and its preset's Redis database."""
    if params == Params():
        return DB_URI, REDIS_URI
    name = label.split(":")[0]
    db = DB_URI.rsplit("/", 1)[0] + f"/ichnaea_bench_{name}"
    redis = os.environ.get(f"BENCH_REDIS_URI_{name.upper()}") or \
        REDIS_URI.rsplit("/", 1)[0] + f"/{PRESET_REDIS_DB.get(name, 2)}"
    return db, redis


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
    core_share: float = 0.7

    def to_latlon(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xy = np.atleast_2d(xy)
        lat = self.lat + xy[:, 1] / M_PER_DEG
        lon = self.lon + xy[:, 0] / (M_PER_DEG * math.cos(math.radians(self.lat)))
        return lat, lon

    def people(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Where people (and access points) are: core or suburb."""
        sd = np.where(rng.random(size) < self.core_share, self.core_sd, self.suburb_sd)
        return rng.normal(0.0, 1.0, (size, 2)) * sd[:, None]

    def on_street(self, rng: np.random.Generator, xy: np.ndarray, every: int = 1) -> np.ndarray:
        """Move each point to the nearest street of the grid (within the road's width);
        ``every``: only every so many streets (main roads)."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        u = xy[:, 0] * c + xy[:, 1] * s
        v = -xy[:, 0] * s + xy[:, 1] * c
        block = self.block * every
        du = u - np.round(u / block) * block
        dv = v - np.round(v / block) * block
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
                 tx: np.ndarray, moved: np.ndarray, relearnt: np.ndarray,
                 ranges: np.ndarray | None = None, floor: int = -100) -> None:
        self.radio = radio
        #: each network's range (m) in the "disk" model
        self.ranges = ranges
        #: the weakest signal a phone reports
        self.floor = floor
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
        if r.model == "disk":
            assert self.ranges is not None
            reach = self.ranges[idx]
            rss = (self.tx[idx] - (self.tx[idx] - r.threshold) * np.minimum(d / reach, 1.0)
                   + device + rng.normal(0.0, r.shadowing, len(idx)))
            ok = (d <= reach) & (rng.random(len(idx)) >= r.miss)
        else:
            rss = (self.tx[idx] - 10 * r.exponent * np.log10(d) + device
                   + rng.normal(0.0, r.shadowing, len(idx)))
            ok = (rss >= r.threshold) & (rng.random(len(idx)) >= r.miss)
        heard = sorted(zip(idx[ok].tolist(), np.round(rss[ok]).astype(int).tolist(),
                           strict=True), key=lambda p: -p[1])
        return [(i, max(min(s, -10), self.floor)) for i, s in heard]


class Cells:
    """The cells of one city: three sectors per site on every layer the site has."""

    def __init__(self, city: City, sites: np.ndarray, layers: dict[str, np.ndarray],
                 tx: dict[str, np.ndarray], exponent: float = 3.5,
                 shadowing: float = 6.0) -> None:
        self.city = city
        self.exponent = exponent
        self.shadowing = shadowing
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
        rss = (self.tx[radio] - 10 * self.exponent * np.log10(d) + gain + device
               + rng.normal(0.0, self.shadowing, len(d)))
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
        core = float(rng.uniform(*params.core_sd))
        city = City(index, name, region, mcc, lat, lon, core,
                    core * float(rng.uniform(*params.suburb_factor)),
                    float(rng.uniform(*params.block)), float(rng.uniform(0, math.pi / 2)),
                    int(rng.choice(GEOIP_RADII_KM, p=GEOIP_RADII_P)), params.core_share)
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
    if params.building_aps > 1:  # blocks of flats: access points in clumps
        buildings = city.people(rng, -(-count // params.building_aps))
        xy1 = (np.repeat(buildings, params.building_aps, axis=0)[:count]
               + disk(rng, count, params.building_m))
    else:
        xy1 = city.people(rng, count)
    xy2 = xy1.copy()
    moved = rng.random(count) < params.moved + params.moved_far
    far = moved & (rng.random(count) < params.moved_far / max(params.moved + params.moved_far,
                                                              1e-12))
    dist = np.where(far, rng.uniform(6000, 30000, count),
                    np.exp(rng.uniform(math.log(30), math.log(3000), count)))
    angle = rng.uniform(0, 2 * math.pi, count)
    xy2[moved, 0] += dist[moved] * np.cos(angle[moved])
    xy2[moved, 1] += dist[moved] * np.sin(angle[moved])
    relearnt = moved & (rng.random(count) < 0.5)
    radio = params.wifi_radio
    tx = rng.normal(radio.tx_mean, radio.tx_sd, count)
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
    ranges = None
    if radio.model == "disk":  # the 5 GHz MAC of a router reaches 0.7 times as far
        reach = radio.range_m * np.exp(rng.normal(0.0, radio.range_sd, count))
        ranges = reach[ap] * np.where(offset < 0, 0.7, 1.0)
    return Stations(radio, macs, xy1[ap], xy2[ap], tx[ap] + offset, moved[ap], relearnt[ap],
                    ranges=ranges, floor=-100)


def _cells(rng: np.random.Generator, params: Params, city: City) -> Cells:
    sites = city.people(rng, params.cell_sites) * params.cell_spread
    layers, tx = {}, {}
    for radio in CELL_RADIOS:
        with_layer = np.arange(len(sites)) if radio == "lte" else \
            np.nonzero(rng.random(len(sites)) < params.gsm_sites)[0]
        layers[radio] = np.array([(site, sector) for site in with_layer for sector in range(3)],
                                 dtype=int).reshape(-1, 2)
        tx[radio] = CELL_RADIOS[radio].tx + rng.normal(0.0, 2.0, len(layers[radio]))
    return Cells(city, sites, layers, tx, params.cell_exponent, params.cell_shadowing)


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
    return venues, Stations(BLUE, macs, xy1, xy2, tx, moved, relearnt, floor=-127)


def _scan(rng: np.random.Generator, world: World, city: int, point: np.ndarray, phase: int,
          extra_wifi: Sequence[tuple[str, int]] = (), extra_blue: Sequence[tuple[str, int]] = (),
          ) -> tuple[list[tuple[str, int]], list[tuple[str, int]], list[dict[str, Any]]]:
    """What a phone at ``point`` hears: WiFi, beacons, and its serving cell (with one or
    two neighbours half of the time) on the layer it is camped on."""
    params = world.params
    device = float(rng.normal(0.0, params.device_sd))
    wifi = world.wifi[city]
    blue = world.blue[city]
    heard_wifi = [(wifi.macs[i], s) for i, s in wifi.hear(rng, point, phase, device)]
    heard_blue = [(blue.macs[i], s) for i, s in blue.hear(rng, point, phase, device)]
    radio = "lte" if rng.random() < params.lte_share else "gsm"
    heard_cells = world.cells[city].hear(rng, point, radio, device)
    keep = 1 + (int(rng.integers(1, 3)) if rng.random() < params.neighbours else 0)
    cells = [dict(identity, signalStrength=s) for identity, s in heard_cells[:keep]]
    return list(extra_wifi) + heard_wifi, list(extra_blue) + heard_blue, cells


def _report(city: City, rng: np.random.Generator, point: np.ndarray, gps_sd: float,
            wifi: list[tuple[str, int]], blue: list[tuple[str, int]],
            cells: list[dict[str, Any]], params: Params | None = None,
            bias: np.ndarray | None = None) -> dict[str, Any] | None:
    if not wifi and not blue and not cells:
        return None
    measured = point + rng.normal(0.0, gps_sd, 2)
    if bias is not None:
        measured = measured + bias
    if params is not None and params.gps_outliers and rng.random() < params.gps_outliers:
        # a fix that is off by more than it claims (multipath, a stale fix)
        off = float(rng.uniform(*params.gps_outlier_m))
        angle = float(rng.uniform(0, 2 * math.pi))
        measured = measured + off * np.array([math.cos(angle), math.sin(angle)])
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
    gps = params.gps_scale
    out: list[dict[str, Any]] = []

    def add(city: City, point: np.ndarray, gps_sd: float, bias: np.ndarray | None = None,
            **extra: Any) -> int:
        """Scan at ``point`` and report it; the number of WiFi networks heard."""
        wifi, blue, cells = _scan(rng, world, city.index, point, phase, **extra)
        report = _report(city, rng, point, gps * gps_sd, wifi, blue, cells, params, bias)
        if report is not None:
            out.append(report)
        return len(wifi)

    def street_points(city: City, count: int) -> np.ndarray:
        points = city.people(rng, count)
        street = rng.random(count) < params.street_share
        points[street] = city.on_street(rng, points[street], params.street_every)
        return points

    def trip_points(city: City, count: int) -> tuple[np.ndarray, np.ndarray]:
        """``count`` scans in trips along the streets, and each one's GPS bias."""
        trips = max(1, -(-count // params.trip_scans))
        starts = city.on_street(rng, city.people(rng, trips), params.street_every)
        axis = city.angle + (math.pi / 2) * rng.integers(0, 4, trips)
        steps = np.arange(params.trip_scans) * params.trip_step
        points = (starts[:, None, :] + steps[None, :, None]
                  * np.stack([np.cos(axis), np.sin(axis)], axis=1)[:, None, :])
        points = city.on_street(rng, points.reshape(-1, 2), params.street_every)
        bias = np.repeat(rng.normal(0.0, params.gps_bias, (trips, 2)), params.trip_scans, axis=0)
        return points[:count], bias[:count]

    def scans(city: City, count: int) -> None:
        """``count`` street scans, or trips of them."""
        if params.trip_scans:
            points, bias = trip_points(city, count)
            for point, b in zip(points, bias, strict=True):
                heard[0] += add(city, point, float(rng.uniform(2, 6)), b)
        else:
            for point in street_points(city, count):
                heard[0] += add(city, point, float(rng.uniform(2, 6)))

    heard = [0]

    for city in world.cities:
        stations = world.wifi[city.index]
        first = len(out)
        if params.obs_per_network > 0:  # scan until the city has its observations
            goal = share * params.obs_per_network * len(stations.macs)
            heard[0] = 0
            while heard[0] < goal:
                scans(city, 50)
        else:
            scans(city, int(share * params.reports_per_ap * len(stations.macs)
                            / (1 + params.dual_band)))
        if params.min_obs and phase == 1:
            _top_up(rng, city, stations, out, first, params, add)
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


def _top_up(rng: np.random.Generator, city: City, stations: Stations,
            out: list[dict[str, Any]], first: int, params: Params, add: Any) -> None:
    """More scans next to each access point of ``city`` heard fewer than
    ``min_obs`` times in ``out[first:]`` (each scan also hears its neighbours)."""
    seen: dict[str, int] = {}

    def count(reports: list[dict[str, Any]]) -> None:
        for report in reports:
            for entry in report["wifiAccessPoints"]:
                seen[entry["macAddress"]] = seen.get(entry["macAddress"], 0) + 1

    count(out[first:])
    radio = stations.radio
    near = 0.5 * (radio.range_m if radio.model == "disk" else 60.0)
    for i, mac in enumerate(stations.macs):
        tries = 0
        while seen.get(mac, 0) < params.min_obs and tries < 4 * params.min_obs:
            tries += 1
            point = stations.xy[1][i] + disk(rng, 1, near)[0]
            if rng.random() < params.street_share:  # the nearest street, if it is near
                street = city.on_street(rng, point[None, :], params.street_every)[0]
                if np.hypot(*(street - stations.xy[1][i])) <= near:
                    point = street
            before = len(out)
            add(city, point, float(rng.uniform(2, 6)))
            count(out[before:])


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
        options = [m for m in world.mobile_blue if m.city == city.index]
        if rng.random() < 1 / 3 and options:
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


def configure_env(db_uri: str = DB_URI, redis_uri: str = REDIS_URI,
                  geoip_path: Path | None = None) -> None:
    """Point the service's own settings (as an operator would) at the bench servers."""
    os.environ["DB_READWRITE_URI"] = db_uri
    os.environ["DB_READONLY_URI"] = db_uri
    os.environ["REDIS_URI"] = redis_uri
    os.environ["ICHNAEA_VAR_DIR"] = str(VAR_DIR)
    os.environ["GEOIP_PATH"] = str(geoip_path or VAR_DIR / "world-geoip.mmdb")
    os.environ.setdefault("LOGGING_LEVEL", "WARNING")
    # one client sends every query: the per-address and per-block limits
    # (bench/limits.py measures them) would refuse most of them
    for name in ("ICHNAEA_LOCATE_LIMIT_IP", "ICHNAEA_LOCATE_LIMIT_PREFIX"):
        os.environ.setdefault(name, "0")
    # the service's own accuracy measurement (ICHNAEA_CALIBRATION_*) takes every
    # report: the bench's days are a few seconds long, not 1,440 minutes of 300
    os.environ.setdefault("ICHNAEA_CALIBRATION_PER_MINUTE", "1000000")
    os.environ.setdefault("ICHNAEA_CALIBRATION_REFRESH", "1")


def runtime() -> Any:
    from ichnaea_host.core.log import configure_logging
    from ichnaea_host.plugins.runtime import Runtime

    configure_logging(os.environ.get("LOGGING_LEVEL", "WARNING"))
    return Runtime()


def loaded_world(rt: Any) -> str | None:
    """The name of the world the bench database holds, if it is whole: its
    stations and the service's accuracy measurement of its reports, which
    lives in Redis for ICHNAEA_CALIBRATION_DAYS (+1) days only. Sets the
    service's day to the world's last day of learning (:func:`service_day`)."""
    try:
        cursor = rt.db.rw.execute_sql("SELECT name, day FROM bench_world")
    except Exception:  # noqa: BLE001 - no marker table (or an older one): load again
        rt.db.rw.rollback()
        return None
    row = cursor.fetchone()
    if not row:
        return None
    from ichnaea_host.core import calibration

    if not rt.redis.exists(calibration.KINDS_KEY):
        return None
    service_day(row[1])
    return str(row[0])


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


def ensure_loaded(world: World, *, force: bool = False, log: Any = print,
                  db_uri: str = DB_URI, redis_uri: str = REDIS_URI) -> Any:
    """A runtime on the bench database ``db_uri`` holding ``world``; loads it when needed."""
    geoip = VAR_DIR / ("world-geoip.mmdb" if db_uri == DB_URI else f"{world.name}-geoip.mmdb")
    configure_env(db_uri, redis_uri, geoip)
    write_geoip(world, geoip)
    rt = runtime()
    if not force and loaded_world(rt) == world.name:
        return rt
    rt.close()
    _drop_database(db_uri)
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
    today = date.today()
    queue = rt.queue(INCOMING_QUEUE)
    for phase in (1, 2):
        start = time.perf_counter()
        reports = world.reports[phase]
        days: list[list[dict[str, Any]]] = [reports]
        if phase == 1:  # in a random order, a day's share at a time
            order = np.random.default_rng(world.params.seed).permutation(len(reports))
            days = [[reports[i] for i in part] for part in np.array_split(order, LEARN_DAYS)]
        runs: dict[str, int] = {}
        for number, day_reports in enumerate(days):
            back = LEARN_DAYS - number if phase == 1 else 0
            service_day(today - timedelta(days=back))
            for chunk in _chunks(day_reports, 1000):
                queue.enqueue([{"api_key": API_KEY, "source": "gnss",
                                "report": dict(r, timestamp=now_ms)} for r in chunk])
            for name, count in drain_parallel(rt).items():
                runs[name] = runs.get(name, 0) + count
        observations = sum(len(r["wifiAccessPoints"]) + len(r["bluetoothBeacons"])
                           + len(r["cellTowers"]) for r in reports)
        seconds = time.perf_counter() - start
        log(f"phase {phase}: {len(reports)} reports, {observations} observations "
            f"through the pipeline in {seconds:.1f} s ({observations / seconds:.0f}/s)"
            f"{f' over {LEARN_DAYS} days' if phase == 1 else ''}; "
            f"runs {dict(sorted(runs.items()))}")
        if phase == 1:
            age_stations(rt, world)
    check_learnt(world)
    log(calibration_line(rt))
    rt.db.rw.execute_sql("CREATE TABLE bench_world (name VARCHAR(64) PRIMARY KEY, day DATE)")
    rt.db.rw.execute_sql("INSERT INTO bench_world (name, day) VALUES (%s, %s)",
                         (world.name, today))


#: phase 1 is submitted over this many days, phase 2 on the day after: the
#: service's measured accuracy (the last ICHNAEA_CALIBRATION_DAYS days, 7 by
#: default) is then made of reports located against a database that has
#: learnt for a week or more, as a service that has been running would be
LEARN_DAYS = 14


def service_day(day: date) -> None:
    """From now on, in this process, the service's accuracy measurement dates
    its samples ``day`` and reads the days before it (the bench's days are
    seconds long; nothing else of the service looks at this clock)."""
    from ichnaea_host.core import calibration
    from ichnaea_host.pipeline import calibrate

    calibration.today_utc = calibrate.today_utc = lambda: day


def calibration_line(rt: Any) -> str:
    """The samples of the service's accuracy measurement, per kind."""
    from ichnaea_host.core import calibration

    kinds = calibration.by_kind(calibration.read(rt))
    return "calibration samples (last days): " + ", ".join(
        f"{kind} {summary.samples}" for kind, summary in sorted(kinds.items()))


def check_learnt(world: World) -> None:
    """Every WiFi network the reports named has its row: a load whose queues
    were lost (another process flushing the same Redis database) fails here."""
    from ichnaea_wifi.models import MODEL as WIFI_MODEL

    named = {entry["macAddress"] for reports in world.reports.values() for report in reports
             for entry in report["wifiAccessPoints"]}
    rows = WIFI_MODEL.select().count()
    if rows < 0.9 * len(named):
        raise SystemExit(f"{world.name}: {rows} WiFi rows learnt for {len(named)} networks "
                         "reported: was the Redis database flushed under the load? "
                         "(BENCH_REDIS_URI_<PRESET> chooses another)")


def _drain_shards(part: int, parts: int, env: dict[str, str] | None = None) -> int:
    """Apply the queued observations of every ``parts``-th shard (a child process
    with the parent's ``env``)."""
    from ichnaea_host.pipeline.tasks import station_queues, update_stations

    if env is None:
        configure_env()
    else:
        os.environ.update(env)
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
        env = {k: v for k, v in os.environ.items()
               if k in ("DB_READWRITE_URI", "DB_READONLY_URI", "REDIS_URI", "GEOIP_PATH",
                        "ICHNAEA_VAR_DIR") or k.startswith("ICHNAEA_")}
        runs = sum(pool.starmap(_drain_shards,
                                [(p, processes, env) for p in range(processes)]))
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
        "wifi_observed": observed(world, "wifiAccessPoints",
                                  [m for s in world.wifi for m in s.macs]),
        "cells_observed": observed(world, "cellTowers",
                                   [cell_key(c.identity(radio, i)) for c in world.cells
                                    for radio in c.layers for i in range(len(c.layers[radio]))]),
        "shape": shape(world.params),
    }


def observed(world: World, field: str, keys: list[str]) -> dict[str, Any]:
    """How often the networks of ``keys`` were observed by the learning reports."""
    seen: dict[str, int] = dict.fromkeys(keys, 0)
    for reports in world.reports.values():
        for report in reports:
            for entry in report[field]:
                key = entry.get("macAddress") or cell_key(entry)
                if key in seen:
                    seen[key] += 1
    counts = np.array(list(seen.values()) or [0])
    known = counts[counts > 0]
    return {
        "networks": len(counts),
        "observations_per_network": round(float(counts.mean()), 2),
        "never": round(float(np.mean(counts == 0)), 3),
        "once": round(float(np.mean(counts == 1)), 3),
        "at_least_6": round(float(np.mean(counts >= 6)), 3),
        "median_of_observed": float(np.median(known)) if len(known) else None,
    }


def shape(params: Params) -> dict[str, Any]:
    """The shape knobs that differ from the default world's."""
    default = Params()
    return {f.name: dataclasses.asdict(params)[f.name] for f in dataclasses.fields(Params)
            if getattr(params, f.name) != getattr(default, f.name)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["load", "summary", "queries"])
    parser.add_argument("--world", default="ours",
                        help=f"a preset ({', '.join(PRESETS)}), knobs changed as "
                             "name:knob=value:knob=value")
    parser.add_argument("--seed", type=int, help="default: the preset's (7)")
    parser.add_argument("--cities", type=int, help="default: the preset's")
    parser.add_argument("--out", type=Path, help="file for `queries` (default: stdout)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    label, params = preset(args.world)
    if args.seed is not None:
        params = params.replace(seed=args.seed)
    if args.cities is not None:
        params = params.replace(cities=args.cities)
    world = build(params)
    db_uri, redis_uri = backends(args.world, params)
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
        rt = ensure_loaded(world, force=True, log=lambda m: print(m, file=sys.stderr),
                           db_uri=db_uri, redis_uri=redis_uri)
        rt.close()
        print(json.dumps(summary(world), indent=2))
    return 0


if __name__ == "__main__":
    # run as the module "world", as the other scripts import it (so that cached worlds unpickle)
    sys.path.insert(0, str(BENCH_DIR))
    import world

    sys.exit(world.main())
