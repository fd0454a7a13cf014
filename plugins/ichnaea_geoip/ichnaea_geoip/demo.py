"""Builds the demo GeoIP2-City database from the data file this plugin ships."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

DATA = Path(__file__).parent / "data" / "demo_cities.json"
CONTINENTS = {"EU": "Europe", "NA": "North America", "SA": "South America", "AS": "Asia",
              "OC": "Oceania", "AF": "Africa", "AN": "Antarctica"}


def build_demo_database(target: Path) -> Path:
    """Write the demo database to ``target`` (atomically) and return its path."""
    from mmdb_writer import MmdbF64, MmdbU16, MmdbU32, MMDBWriter
    from netaddr import IPSet

    records = json.loads(DATA.read_text("utf-8"))["records"]
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-City",
                        languages=["en"], description={"en": "Ichnaea demo City database"})
    for rec in records:
        lat, lon, radius = rec["location"]
        country = {"iso_code": rec["country"], "names": {"en": rec["country_name"]}}
        data: dict = {
            "continent": {"code": rec["continent"],
                          "names": {"en": CONTINENTS[rec["continent"]]}},
            "country": country,
            "registered_country": country,
            "location": {"accuracy_radius": MmdbU16(radius), "latitude": MmdbF64(lat),
                         "longitude": MmdbF64(lon), "time_zone": rec["time_zone"]},
        }
        if "city" in rec:
            data["city"] = {"geoname_id": MmdbU32(rec["geoname_id"]),
                            "names": {"en": rec["city"]}}
        if "subdivision" in rec:
            code, name, geoname_id = rec["subdivision"]
            data["subdivisions"] = [{"iso_code": code, "names": {"en": name},
                                     "geoname_id": MmdbU32(geoname_id)}]
        writer.insert_network(IPSet(rec["networks"]), data)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    os.close(fd)
    writer.to_db_file(tmp)
    os.replace(tmp, target)
    return target
