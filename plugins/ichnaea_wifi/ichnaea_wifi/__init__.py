"""WiFi access points: what devices see, and where we learnt they are."""
