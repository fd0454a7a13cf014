"""External fallback providers for Ichnaea.

A position source that asks an operator-configured provider when the
service's own data cannot answer a query well enough, with a Redis cache and
a per-provider rate limit, and the provider wire formats ``ichnaea/v1``,
``combain/v1``, ``googlemaps/v1`` and ``unwiredlabs/v1``.
"""
