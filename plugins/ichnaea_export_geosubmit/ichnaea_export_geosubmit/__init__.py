"""The ``geosubmit`` export target for Ichnaea.

An ``export_config`` row with ``schema = geosubmit`` forwards its batches of
reports, unchanged, to another location service's ``/v2/geosubmit`` endpoint
(``export_config.url``), as one gzip-compressed ``{"items": [...]}`` POST per
batch. Failed sends are retried by the host and then parked in the export
queue's dead-letter list.
"""
