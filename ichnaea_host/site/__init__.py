"""The public web site: a Flask blueprint with Jinja templates and static files.

Pages: home, API, map, statistics, regions, downloads, privacy, terms,
opt-out and contact, with the original's JSON endpoints (``/map.json``,
``/stats_<kind>.json``), robots.txt and favicon. The browser libraries
(Leaflet, Chart.js) come from the npm registry at build time (``web/``,
``make assets``) and are served from ``static/vendor``.
"""

from ichnaea_host.site.views import bp, not_found

__all__ = ["bp", "not_found"]
