"""The data pipeline: Huey tasks and worker, exporters, statistics, the datamap
and the monitoring jobs. Imports from ``core``, ``plugins`` and ``stations``.
"""
