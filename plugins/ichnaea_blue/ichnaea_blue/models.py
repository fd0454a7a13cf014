"""The blue station tables: ``blue_shard_0`` .. ``blue_shard_f``, keyed by MAC."""

from __future__ import annotations

from ichnaea_host.db import MacField
from ichnaea_host.stations import shard_model

from .mac import SHARDS

SHARD_MODELS = {
    shard: shard_model(f"blue_shard_{shard}", "mac", MacField(primary_key=True))
    for shard in SHARDS
}
