"""pytest fixtures for the host's tests and for plugin authors (a pytest11 plugin).

Filled in below; the module must stay importable without a database.
"""
