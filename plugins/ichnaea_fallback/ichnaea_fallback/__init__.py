"""External fallback providers for Ichnaea (ichnaea/v1, combain/v1, googlemaps/v1,
unwiredlabs/v1). Filled by its own issue; registers nothing yet.
"""
