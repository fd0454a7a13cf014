"""GeoIP: a coarse position and the region of a client's IP address."""
