"""The geosubmit export target for Ichnaea (v2 batches to another service). Filled by the
pipeline issue; registers nothing yet.
"""
