"""The host's foundations: settings, logs, metrics, the database and Redis layers,
migrations, geography, and the plugin contract's vocabulary (hook specs and
interfaces). Nothing here imports from a floor above.
"""
