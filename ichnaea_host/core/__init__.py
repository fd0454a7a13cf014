"""The host's foundations: settings, logs, metrics, the database and Redis layers,
migrations, geography, and the plugin contract's vocabulary (hook specs and
interfaces). Nothing here imports from a floor above.
"""

#: the version of the host (``ichnaea_host.__version__``, ``/__version__``)
__version__ = "0.1.0"
