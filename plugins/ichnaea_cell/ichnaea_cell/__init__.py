"""Cell towers for Ichnaea (GSM, WCDMA, LTE, NR): cell and area tables, updater, position and
region sources. Filled by the 'Locating well' issue; registers nothing yet.
"""
