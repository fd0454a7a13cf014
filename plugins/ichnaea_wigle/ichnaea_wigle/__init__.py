"""Wardriving imports for Ichnaea: ``ichnaea import wigle FILE...`` reads WiGLE
CSV files (as WiGLE's Android app and many ESP32/Flipper wardrivers write
them) and queues their rows as reports, as a ``/v2/geosubmit`` submission is
queued."""
