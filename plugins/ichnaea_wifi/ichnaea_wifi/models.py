"""The wifi station tables: ``wifi_shard_0`` .. ``wifi_shard_f``, keyed by MAC."""

from __future__ import annotations

from ichnaea_host.db import MacField
from ichnaea_host.stations import shard_model

from .mac import SHARDS

SHARD_MODELS = {
    shard: shard_model(f"wifi_shard_{shard}", "mac", MacField(primary_key=True))
    for shard in SHARDS
}
