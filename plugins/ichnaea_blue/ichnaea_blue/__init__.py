"""Bluetooth beacons: what devices see, and where we learnt they are."""
