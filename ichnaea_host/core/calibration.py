"""The service's measured accuracy: what positioned reports say about the
answers the service gives.

The pipeline locates a sample of the GNSS-positioned reports it receives
with the service's own stations (before it learns from them) and records,
per *kind* of answer (the answering source's name, with ``-lacf`` and the
like for fallback answers), how far the answer was from the report's
position: the **ratio** of that error to the accuracy the source claimed
(its 95 % radius), and the **error** in metres, each as a histogram of
log-spaced buckets, plus how many samples fell inside the circle the service
answered at the time.

Samples are kept per kind and per stratum (:data:`STRATA`: how large a share
of the networks heard the answer used). Storage: one Redis hash per stratum
and UTC day, ``calibration:{<kind>:k<stratum>}:YYYYMMDD`` (fields ``r<bucket>``,
``e<bucket>``, ``n`` and ``in``), kept :attr:`Settings.calibration_days`
days; each operation touches one key, so the hashes may live on a Redis
Cluster. The histograms add up: the summary of the last days is the sum of
their hashes. ``calibration:kinds`` names the strata seen.

At answer time (:class:`Calibration`, one per process, re-read at most every
``ICHNAEA_CALIBRATION_REFRESH`` seconds), a kind with at least
``ICHNAEA_CALIBRATION_MIN_SAMPLES`` samples answers the radius holding
``c`` % of the true positions as the source's accuracy times the
``c``-quantile of the ratios of its stratum (:class:`Model`); a kind with
fewer keeps the source's own accuracy and ``CONFIDENCE`` table.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from ichnaea_host.core.clock import today_utc
from ichnaea_host.core.log import get_logger
from ichnaea_host.core.queues import REDIS_ERRORS

if TYPE_CHECKING:
    from ichnaea_host.core.answers import Position
    from ichnaea_host.core.plugin_classes import HostContext

log = get_logger("ichnaea.calibration")

KINDS_KEY = "calibration:kinds"
#: ratio buckets: 40 a decade (6 % wide) from 10**-3 to 10**3
RATIO_LOW, RATIO_DECADES, RATIO_STEPS = -3, 6, 40
#: error buckets: 20 a decade (12 % wide) from 0.1 m to 10,000 km
ERROR_LOW, ERROR_DECADES, ERROR_STEPS = -1, 8, 20


def kind_of(position: Position) -> str:
    """The kind of an answer: its source, and the fallback it used if any."""
    return f"{position.source}-{position.fallback}" if position.fallback else position.source


#: the strata of a kind, by the share (percent) of the networks heard, of the
#: kinds the answer was made of, that the answer used. The share says how
#: well the place is known: where stumblers went, most networks heard are
#: known and agree; away from their routes fewer are, and those known were
#: learnt from one side, so the answers there are further off.
STRATA = (0, 35, 50, 60, 70, 80, 90)
#: a stratum's own median counts once it has this many samples
STRATUM_SAMPLES = 30


def stratum(used: int, heard: int) -> int:
    """The lower bound (percent) of the stratum of an answer that used
    ``used`` of ``heard`` networks."""
    share = 100 * used // heard if heard > 0 else 100
    return max(low for low in STRATA if share >= low)


def group_of(kind: str, used: int, heard: int) -> str:
    """The stratum of a kind an answer from ``used`` of ``heard`` networks
    falls in."""
    return f"{kind}:k{stratum(used, heard)}"


def heard_for(position: Position, networks: Mapping[str, Sequence[Any]]) -> int:
    """How many networks of the kinds the answer used the query held."""
    kinds = {kind for kind, _, _ in position.used_networks}
    return sum(len(networks.get(kind) or ()) for kind in kinds)


def kind_of_group(group: str) -> str:
    return group.rsplit(":", 1)[0]


def day_key(group: str, day: date) -> str:
    return f"calibration:{{{group}}}:{day:%Y%m%d}"


def _bucket(value: float, low: int, decades: int, steps: int) -> int:
    if value <= 0 or not math.isfinite(value):
        return 0 if value <= 0 or math.isnan(value) else decades * steps - 1
    index = math.floor((math.log10(value) - low) * steps)
    return min(max(index, 0), decades * steps - 1)


def ratio_bucket(ratio: float) -> int:
    return _bucket(ratio, RATIO_LOW, RATIO_DECADES, RATIO_STEPS)


def error_bucket(metres: float) -> int:
    return _bucket(metres, ERROR_LOW, ERROR_DECADES, ERROR_STEPS)


def _quantile_index(counts: Mapping[int, int], share: float) -> float | None:
    """Where, in buckets, ``share`` of the counted values lie below: the
    bucket's index plus the part of it needed (values spread evenly over
    it, which is geometric interpolation for log-spaced buckets)."""
    total = sum(counts.values())
    if total <= 0:
        return None
    wanted = min(max(share, 0.0), 1.0) * total
    seen = 0
    last = max(counts)
    for index in sorted(counts):
        count = counts[index]
        if count <= 0:
            continue
        if seen + count >= wanted or index == last:
            inside = (wanted - seen) / count if count else 1.0
            return index + min(max(inside, 0.0), 1.0)
        seen += count
    return None  # pragma: no cover - the last bucket returns


def _quantile(counts: Mapping[int, int], share: float, low: int, steps: int) -> float | None:
    """The value below which ``share`` of the counted values lie."""
    index = _quantile_index(counts, share)
    return None if index is None else float(10 ** (low + index / steps))


@dataclasses.dataclass
class Summary:
    """One kind's samples over some days."""

    samples: int = 0
    #: samples inside the circle the service answered (at 95 %) at the time
    inside: int = 0
    ratios: Counter[int] = dataclasses.field(default_factory=Counter)
    errors: Counter[int] = dataclasses.field(default_factory=Counter)

    def add(self, other: Summary) -> None:
        self.samples += other.samples
        self.inside += other.inside
        self.ratios.update(other.ratios)
        self.errors.update(other.errors)

    def add_hash(self, fields: Mapping[Any, Any]) -> None:
        for raw_name, raw_value in fields.items():
            name = raw_name.decode() if isinstance(raw_name, bytes) else str(raw_name)
            try:
                value = int(raw_value)
            except (TypeError, ValueError):
                continue
            if name == "n":
                self.samples += value
            elif name == "in":
                self.inside += value
            elif name[:1] in ("r", "e") and name[1:].isdigit():
                (self.ratios if name[0] == "r" else self.errors)[int(name[1:])] += value

    def ratio_quantile(self, share: float) -> float | None:
        return _quantile(self.ratios, share, RATIO_LOW, RATIO_STEPS)

    def error_quantile(self, share: float) -> float | None:
        return _quantile(self.errors, share, ERROR_LOW, ERROR_STEPS)

    @property
    def share_inside(self) -> float | None:
        return self.inside / self.samples if self.samples else None


@dataclasses.dataclass
class Sample:
    """What one located report showed."""

    kind: str
    #: networks the answer was made of
    networks: int
    #: networks of those kinds the report held
    heard: int
    #: metres between the answer and the report's position
    error: float
    #: the accuracy the source claimed (its 95 % radius)
    accuracy: float
    #: the accuracy the service answered at the time (at 95 %)
    answered: float


def record(context: HostContext, samples: Iterable[Sample], day: date | None = None) -> int:
    """Add samples to the day's hashes; returns how many were recorded.
    A Redis outage loses them (logged), never the caller's work."""
    day = day or today_utc()
    fields: dict[str, Counter[str]] = {}
    for sample in samples:
        counts = fields.setdefault(group_of(sample.kind, sample.networks, sample.heard), Counter())
        ratio = sample.error / sample.accuracy if sample.accuracy > 0 else math.inf
        counts[f"r{ratio_bucket(ratio)}"] += 1
        counts[f"e{error_bucket(sample.error)}"] += 1
        counts["n"] += 1
        counts["in"] += sample.error <= sample.answered
    if not fields:
        return 0
    ttl = (context.settings.calibration_days + 1) * 86400
    try:
        with context.redis.pipeline(transaction=False) as pipe:
            for group, counts in fields.items():
                key = day_key(group, day)
                for name, value in counts.items():
                    if value:
                        pipe.hincrby(key, name, value)
                pipe.expire(key, ttl)
            pipe.sadd(KINDS_KEY, *sorted(fields))
            pipe.execute()
    except REDIS_ERRORS as exc:
        log.warning("calibration_not_recorded", error=type(exc).__name__,
                    samples=sum(c["n"] for c in fields.values()))
        return 0
    return sum(c["n"] for c in fields.values())


def by_kind(groups: Mapping[str, Summary]) -> dict[str, Summary]:
    out: dict[str, Summary] = {}
    for group, summary in groups.items():
        out.setdefault(kind_of_group(group), Summary()).add(summary)
    return out


def read(context: HostContext, days: int | None = None,
         today: date | None = None) -> dict[str, Summary]:
    """Each stratum's summary over the last ``days`` days, by
    ``<kind>:n<networks>`` (raises on a Redis error); :func:`by_kind` adds
    them up per kind."""
    days = days or context.settings.calibration_days
    today = today or today_utc()
    client = context.redis
    kinds = sorted(k.decode() if isinstance(k, bytes) else str(k)
                   for k in client.smembers(KINDS_KEY))
    if not kinds:
        return {}
    with client.pipeline(transaction=False) as pipe:
        for kind in kinds:
            for back in range(days):
                pipe.hgetall(day_key(kind, today - timedelta(days=back)))
        hashes = pipe.execute()
    out: dict[str, Summary] = {}
    for index, kind in enumerate(kinds):
        summary = Summary()
        for fields in hashes[index * days:(index + 1) * days]:
            summary.add_hash(fields or {})
        if summary.samples:
            out[kind] = summary
    return out


@dataclasses.dataclass
class Model:
    """One kind's measured accuracy, strata pooled: the ratios of each
    stratum (with enough samples) moved by its median, so that all share one
    shape; a stratum answers its median moved by that shape's quantile. A
    median takes few samples to know (:data:`STRATUM_SAMPLES`), the tails
    many: each stratum keeps its own median and borrows the tails from all.
    A stratum of fewer samples answers with the kind's median."""

    #: bucket index of each stratum's median ratio (strata with enough samples)
    medians: dict[str, int]
    #: the kind's own median (for strata of too few samples)
    median: int
    #: every sample's ratio bucket, less its stratum's median bucket (+ OFFSET)
    shape: Counter[int]
    #: the shape's quantile index of each share asked so far (a request asks one)
    levels: dict[float, float | None] = dataclasses.field(default_factory=dict)

    OFFSET = RATIO_DECADES * RATIO_STEPS

    @classmethod
    def fit(cls, kind: Summary, strata: Mapping[str, Summary]) -> Model:
        median = math.floor(_quantile_index(kind.ratios, 0.5) or 0.0)
        medians = {group: math.floor(_quantile_index(summary.ratios, 0.5) or 0.0)
                   for group, summary in strata.items() if summary.samples >= STRATUM_SAMPLES}
        shape: Counter[int] = Counter()
        for group, middle in medians.items():
            for index, count in strata[group].ratios.items():
                shape[index - middle + cls.OFFSET] += count
        if not shape:  # no stratum of its own size: the kind as one
            shape.update({index - median + cls.OFFSET: count
                          for index, count in kind.ratios.items()})
        return cls(medians=medians, median=median, shape=shape)

    def factor(self, group: str, share: float) -> float | None:
        if share not in self.levels:
            self.levels[share] = _quantile_index(self.shape, share)
        index = self.levels[share]
        if index is None:
            return None
        middle = self.medians.get(group, self.median)
        return float(10 ** (RATIO_LOW + (index - self.OFFSET + middle) / RATIO_STEPS))


class Calibration:
    """The summaries as this process last read them (at most every
    ``ICHNAEA_CALIBRATION_REFRESH`` seconds: one Redis read a minute, not a
    request), and the factors they give. Without Redis, the last ones read
    (or none: the sources' own accuracies)."""

    def __init__(self, context: HostContext) -> None:
        self.context = context
        self._lock = threading.Lock()
        self._read_at = -math.inf
        self._kinds: dict[str, Summary] = {}
        self._models: dict[str, Model] = {}

    def _refresh(self) -> None:
        settings = self.context.settings
        now = time.monotonic()
        if now - self._read_at < settings.calibration_refresh:
            return
        with self._lock:
            if now - self._read_at >= settings.calibration_refresh:
                try:
                    groups = read(self.context)
                    kinds = by_kind(groups)
                    least = max(settings.calibration_min_samples, 1)
                    self._models = {
                        kind: Model.fit(summary, {g: s for g, s in groups.items()
                                                  if kind_of_group(g) == kind})
                        for kind, summary in kinds.items() if summary.samples >= least}
                    self._kinds = kinds
                except REDIS_ERRORS as exc:
                    log.warning("calibration_unavailable", error=type(exc).__name__)
                self._read_at = time.monotonic()

    def summaries(self) -> dict[str, Summary]:
        """Each kind's summary (all strata)."""
        if not self.context.settings.calibration:
            return {}
        self._refresh()
        return self._kinds

    def factor(self, kind: str, level: int, used: int, heard: int) -> float | None:
        """The factor turning a source's claimed accuracy into the radius that
        held ``level`` % of the measured errors of answers like this one (of
        its kind, from as large a share of the networks heard: :class:`Model`);
        None while the kind has fewer than ICHNAEA_CALIBRATION_MIN_SAMPLES
        samples (then the source's own accuracy stands)."""
        if not self.context.settings.calibration:
            return None
        self._refresh()
        model = self._models.get(kind)
        if model is None:
            return None
        return model.factor(group_of(kind, used, heard), level / 100.0)
