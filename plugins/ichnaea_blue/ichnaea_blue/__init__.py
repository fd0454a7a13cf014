"""Bluetooth beacons for Ichnaea: station tables, updater, position source. Filled by the
'Locating well' issue; registers nothing yet.
"""
