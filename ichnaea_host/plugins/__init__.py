"""Finding, loading and calling plugins, and the runtime that ties settings,
database, Redis and plugins together. Imports only from ``core``.
"""
