"""The host's own tables: API keys, export configuration and statistics.

Station tables belong to the radio plugins; they declare their models and
migrations themselves.
"""

from __future__ import annotations

import dataclasses

import peewee

from ichnaea_host.core.answers import ApiKey
from ichnaea_host.core.db import BaseModel


class ApiKeyRow(BaseModel):
    """The ``api_key`` table. The host and plugins work with the
    :class:`~ichnaea_host.core.answers.ApiKey` of a row (:meth:`as_value`);
    only storage code (the CLI, the key cache, tests) touches rows."""

    valid_key = peewee.CharField(max_length=40, primary_key=True)
    maxreq = peewee.IntegerField(null=True)
    allow_fallback = peewee.BooleanField(null=True, default=False)
    allow_locate = peewee.BooleanField(null=True, default=True)
    allow_region = peewee.BooleanField(null=True, default=True)
    fallback_name = peewee.CharField(max_length=40, null=True)
    fallback_schema = peewee.CharField(max_length=64, null=True)
    fallback_url = peewee.CharField(max_length=256, null=True)
    fallback_ratelimit = peewee.IntegerField(null=True)
    fallback_ratelimit_interval = peewee.IntegerField(null=True)
    fallback_cache_expire = peewee.IntegerField(null=True)
    store_sample_locate = peewee.SmallIntegerField(null=True)
    store_sample_submit = peewee.SmallIntegerField(null=True)
    allow_raw = peewee.BooleanField(null=True, default=False)

    class Meta:
        table_name = "api_key"

    #: the columns besides the key itself: the fields of ApiKey
    COLUMNS = tuple(f.name for f in dataclasses.fields(ApiKey) if f.name != "valid_key")

    def as_value(self) -> ApiKey:
        return ApiKey(
            valid_key=self.valid_key, **{name: getattr(self, name) for name in self.COLUMNS}
        )


class ExportConfig(BaseModel):
    name = peewee.CharField(max_length=40, primary_key=True)
    batch = peewee.IntegerField(null=True)
    schema = peewee.CharField(max_length=32, null=True)
    url = peewee.CharField(max_length=512, null=True)
    skip_keys = peewee.CharField(max_length=1024, null=True)
    skip_sources = peewee.CharField(max_length=64, null=True)

    class Meta:
        table_name = "export_config"

    @staticmethod
    def _split(value: str | None) -> frozenset[str]:
        return frozenset(part for part in (value or "").split(",") if part)

    @property
    def skip_key_set(self) -> frozenset[str]:
        return self._split(self.skip_keys)

    @property
    def skip_source_set(self) -> frozenset[str]:
        return self._split(self.skip_sources)

    def allowed(self, api_key: str | None, source: str | None) -> bool:
        return api_key not in self.skip_key_set and source not in self.skip_source_set


class Stat(BaseModel):
    key = peewee.SmallIntegerField()
    time = peewee.DateField()
    value = peewee.BigIntegerField(null=True)

    class Meta:
        table_name = "stat"
        primary_key = peewee.CompositeKey("key", "time")


class RegionStat(BaseModel):
    """Stations per region and kind: one row per (region, kind), the kinds
    being those the station updaters count (``region_counts``), so a new
    radio type needs no column of its own."""

    region = peewee.CharField(max_length=2)
    #: what is counted: a station updater's ``region_counts`` key ("wifi", "lte" ...)
    kind = peewee.CharField(max_length=32)
    count = peewee.BigIntegerField()

    class Meta:
        table_name = "region_stat"
        primary_key = peewee.CompositeKey("region", "kind")


HOST_MODELS = (ApiKeyRow, ExportConfig, Stat, RegionStat)
