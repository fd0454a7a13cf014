"""The public HTTP API: geolocate, country, geosubmit, and their shared checks."""
