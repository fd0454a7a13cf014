"""The values of a location query and its answers: the API key it came with,
the validated query, the candidate positions and regions sources return, and
the accuracy classes that decide whether an answer is good enough.

Plain values: nothing here knows a plugin, a radio or a vendor.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

# ---------------------------------------------------------------------------
# Accuracy classes (metres). A result is a "hit" when its class is at least
# as good as the query's expected class.

DATA_ACCURACY = {"high": 500.0, "medium": 50000.0, "low": 40_000_000.0}
ACCURACY_ORDER = ("high", "medium", "low", "none")


def accuracy_class(accuracy: float | None) -> str:
    if accuracy is None:
        return "none"
    for name in ("high", "medium", "low"):
        if accuracy <= DATA_ACCURACY[name]:
            return name
    return "none"


# ---------------------------------------------------------------------------
# Locate: query and results


@dataclasses.dataclass
class ApiKey:
    """One row of ``api_key`` (or the defaults used without a known key)."""

    valid_key: str | None = None
    maxreq: int | None = 0
    allow_fallback: bool = False
    allow_locate: bool = True
    allow_region: bool = True
    fallback_name: str | None = None
    fallback_schema: str | None = None
    fallback_url: str | None = None
    fallback_ratelimit: int | None = None
    fallback_ratelimit_interval: int | None = None
    fallback_cache_expire: int | None = None
    store_sample_locate: int | None = 100
    store_sample_submit: int | None = 100
    #: geolocate answers list the networks used with their positions (``raw``)
    allow_raw: bool | None = False

    def allowed(self, api_type: str) -> bool:
        if api_type == "locate":
            return bool(self.allow_locate)
        if api_type == "region":
            return bool(self.allow_region)
        return True

    def store_sample(self, api_type: str, global_rate: float = 100.0) -> bool:
        """Whether this request becomes a report for the pipeline.

        Locate: ``store_sample_locate`` percent, scaled by the deployment-wide
        rate (Redis key ``global_locate_sample_rate``, percent); submit:
        ``store_sample_submit`` percent. Region queries are never stored.
        """
        if api_type == "locate":
            rate = (self.store_sample_locate or 0) / 100.0 * global_rate / 100.0
        elif api_type == "submit":
            rate = (self.store_sample_submit or 0) / 100.0
        else:
            return False
        return rate > 0 and rate >= random.random()

    def can_fallback(self) -> bool:
        return bool(
            self.allow_fallback
            and self.fallback_name
            and self.fallback_url
            and self.fallback_ratelimit is not None
            and self.fallback_ratelimit_interval
        )


@dataclasses.dataclass
class Query:
    """A validated locate or region query.

    ``networks`` maps a report fragment's ``PLUGIN_NAME`` (for example the wifi
    plugin's) to the lookups its :meth:`ReportFragment.parse_query` returned.
    """

    api_type: str = "locate"
    api_key: ApiKey = dataclasses.field(default_factory=ApiKey)
    ip: str | None = None
    fallbacks: dict[str, bool] = dataclasses.field(
        default_factory=lambda: {"ipf": True, "lacf": True}
    )
    networks: dict[str, list[Any]] = dataclasses.field(default_factory=dict)
    #: accuracy class each fragment's data can reach ("high" for wifi, ...)
    network_accuracy: dict[str, str] = dataclasses.field(default_factory=dict)
    #: the validated request body, after every fragment normalised its part
    body: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def has_networks(self) -> bool:
        return any(self.networks.values())

    @property
    def expected_accuracy(self) -> str:
        """The best accuracy class this query's data could reach."""
        wanted = []
        for name, lookups in self.networks.items():
            if lookups:
                wanted.append("low" if self.api_type == "region" else
                              self.network_accuracy.get(name, "low"))
        if self.ip and self.fallbacks.get("ipf", True):
            wanted.append("low")
        if not wanted:
            return "none"
        return min(wanted, key=ACCURACY_ORDER.index)


@dataclasses.dataclass
class Position:
    """A candidate position answer from one source."""

    lat: float
    lon: float
    accuracy: float
    score: float
    source: str
    fallback: str | None = None
    #: (network kind, id, seen today) of the stations that made this answer
    used_networks: list[tuple[str, str, bool]] = dataclasses.field(default_factory=list)

    @property
    def data_accuracy(self) -> str:
        return accuracy_class(self.accuracy)


@dataclasses.dataclass
class Region:
    """A candidate region answer from one source."""

    code: str
    name: str
    accuracy: float
    score: float
    source: str
    fallback: str | None = None
