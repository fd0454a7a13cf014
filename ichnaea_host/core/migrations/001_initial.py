"""The host's tables: api_key, export_config, stat, region_stat."""

import peewee as pw


def migrate(migrator, database, fake=False, **kwargs):
    @migrator.create_model
    class ApiKey(pw.Model):
        valid_key = pw.CharField(max_length=40, primary_key=True)
        maxreq = pw.IntegerField(null=True)
        allow_fallback = pw.BooleanField(null=True, default=False)
        allow_locate = pw.BooleanField(null=True, default=True)
        allow_region = pw.BooleanField(null=True, default=True)
        fallback_name = pw.CharField(max_length=40, null=True)
        fallback_schema = pw.CharField(max_length=64, null=True)
        fallback_url = pw.CharField(max_length=256, null=True)
        fallback_ratelimit = pw.IntegerField(null=True)
        fallback_ratelimit_interval = pw.IntegerField(null=True)
        fallback_cache_expire = pw.IntegerField(null=True)
        store_sample_locate = pw.SmallIntegerField(null=True)
        store_sample_submit = pw.SmallIntegerField(null=True)

        class Meta:
            table_name = "api_key"

    @migrator.create_model
    class ExportConfig(pw.Model):
        name = pw.CharField(max_length=40, primary_key=True)
        batch = pw.IntegerField(null=True)
        schema = pw.CharField(max_length=32, null=True)
        url = pw.CharField(max_length=512, null=True)
        skip_keys = pw.CharField(max_length=1024, null=True)
        skip_sources = pw.CharField(max_length=64, null=True)

        class Meta:
            table_name = "export_config"

    @migrator.create_model
    class Stat(pw.Model):
        key = pw.SmallIntegerField()
        time = pw.DateField()
        value = pw.BigIntegerField(null=True)

        class Meta:
            table_name = "stat"
            primary_key = pw.CompositeKey("key", "time")

    @migrator.create_model
    class RegionStat(pw.Model):
        region = pw.CharField(max_length=2, primary_key=True)
        gsm = pw.IntegerField(null=True)
        wcdma = pw.IntegerField(null=True)
        lte = pw.IntegerField(null=True)
        blue = pw.BigIntegerField(null=True)
        wifi = pw.BigIntegerField(null=True)

        class Meta:
            table_name = "region_stat"


def rollback(migrator, database, fake=False, **kwargs):
    for table in ("region_stat", "stat", "export_config", "api_key"):
        migrator.remove_model(table)
