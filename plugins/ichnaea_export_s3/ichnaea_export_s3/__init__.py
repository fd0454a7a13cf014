"""The ``s3`` export target for Ichnaea.

An ``export_config`` row with ``schema = s3`` and ``url = s3://bucket/path``
writes each batch of reports as one gzip-compressed ``{"items": [...]}`` JSON
object. Its queues are partitioned by position source and API key, and the
path may use ``{source}``, ``{api_key}``, ``{year}``, ``{month}`` and ``{day}``.
Any S3-compatible server works (``ICHNAEA_EXPORT_S3__ENDPOINT_URL``);
credentials come from boto3's usual chain (``AWS_ACCESS_KEY_ID`` ...).
"""
