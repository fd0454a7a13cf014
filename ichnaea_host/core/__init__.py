"""The host's foundations: settings, logs, metrics, the database and Redis layers,
migrations, geography, and the plugin contract's vocabulary: the hook specs,
the plugin classes and their context (``plugin_classes``), the query and its
answers (``answers``), the site's sections and jobs (``sections``) and the
lenient schema fields (``lenient``). Nothing here imports from a floor above.
"""

#: the version of the host (``ichnaea_host.__version__``, ``/__version__``)
__version__ = "0.1.0"
