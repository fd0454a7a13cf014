"""The blue station tables: ``blue_shard_0`` .. ``blue_shard_f``, keyed by MAC."""

from __future__ import annotations

from ichnaea_host import mac_shard_models

SHARD_MODELS = mac_shard_models("blue")
