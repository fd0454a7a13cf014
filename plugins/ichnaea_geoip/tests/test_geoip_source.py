"""GeoIP answers: the demo database, radii and scores, /v1/country, the "ipf"
fallback marker, and what happens when the configured database is unusable."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from ichnaea_geoip.source import GeoIPPositionSource, GeoIPRegionSource
from ichnaea_host.app import create_app
from ichnaea_host.core.answers import Query

LONDON_IP = "81.2.69.160"
LONDON_IP6 = "2a02:ff80::1"
BERLIN_IP = "85.214.132.7"
NEW_YORK_IP = "66.65.0.9"
GB_COUNTRY_ONLY_IP = "2.125.160.216"
UNKNOWN_IP = "192.0.2.1"
WIFI = [{"macAddress": "a0:b1:c2:d3:e4:01"}, {"macAddress": "a0:b1:c2:d3:e4:02"}]


def write_mmdb(path: Path, database_type: str, records: list[dict[str, Any]]) -> Path:
    """A MaxMind-format database with the given records (networks, country, location)."""
    from mmdb_writer import MmdbF64, MmdbU16, MmdbU32, MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type=database_type,
                        languages=["en"], description={"en": "test database"})
    for rec in records:
        lat, lon, radius = rec["location"]
        country = {"iso_code": rec["country"], "names": {"en": rec["country"]}}
        location = {"latitude": MmdbF64(lat), "longitude": MmdbF64(lon)}
        if radius is not None:
            location["accuracy_radius"] = MmdbU16(radius)
        data: dict[str, Any] = {"country": country, "location": location}
        if "city" in rec:
            data["city"] = {"geoname_id": MmdbU32(rec["city"]), "names": {"en": "A city"}}
        writer.insert_network(IPSet(rec["networks"]), data)
    writer.to_db_file(str(path))
    return path


def locate(client: Any, key: str, ip: str, body: dict[str, Any] | None = None) -> Any:
    return client.post(f"/v1/geolocate?key={key}", json=body or {},
                       headers={"X-Forwarded-For": ip})


def country(client: Any, key: str, ip: str, body: dict[str, Any] | None = None) -> Any:
    return client.post(f"/v1/country?key={key}", json=body or {},
                       headers={"X-Forwarded-For": ip})


def client_for(rt: Any) -> Any:
    app = create_app(runtime=rt)
    app.testing = True
    return app.test_client()


# ---------------------------------------------------------------------------
# the demo database


def test_demo_database_is_built_under_var_on_first_use(runtime, client, api_key):
    demo = Path(runtime.settings.var_dir) / "geoip" / "demo-city.mmdb"
    assert not demo.exists()
    response = locate(client, api_key, LONDON_IP)
    assert response.status_code == 200
    assert demo.is_file() and demo.stat().st_size > 0
    assert response.get_json() == {"location": {"lat": 51.5142, "lng": -0.0931},
                                   "accuracy": 164000.0}


def test_ipv6_address_is_located(client, api_key):
    data = locate(client, api_key, LONDON_IP6).get_json()
    assert data["location"] == {"lat": 51.5142, "lng": -0.0931}


@pytest.mark.parametrize(("ip", "accuracy"), [
    # the record's radius is a 67 % one; answers are 95 % circles, 1.64 times it
    (LONDON_IP, 164000.0),     # 100 km record, below England's 400 km subdivision radius
    (BERLIN_IP, 32800.0),      # 20 km record: wider than Berlin's 27 km city radius
    (NEW_YORK_IP, 82000.0),    # 50 km record
    (GB_COUNTRY_ONLY_IP, 543000.0),  # 500 km record, capped at the GB region radius
])
def test_accuracy_is_the_record_radius_widened_to_95_percent(client, api_key, ip, accuracy):
    response = locate(client, api_key, ip)
    assert response.status_code == 200
    assert response.get_json()["accuracy"] == accuracy


def test_scores_city_by_region_and_country_only_higher(runtime):
    source = GeoIPPositionSource(runtime)
    (london,) = source.search(Query(ip=LONDON_IP))
    assert (london.score, london.source, london.fallback) == (0.8, "geoip", None)
    (berlin,) = source.search(Query(ip=BERLIN_IP))
    assert berlin.score == 0.3
    (country_only,) = source.search(Query(ip=GB_COUNTRY_ONLY_IP))
    assert country_only.score == 0.9
    assert (country_only.lat, country_only.lon) == (54.0, -2.0)


def test_unknown_or_missing_address_gives_nothing(runtime, client, api_key):
    source = GeoIPPositionSource(runtime)
    assert source.search(Query(ip=UNKNOWN_IP)) == []
    assert source.search(Query(ip="not an address")) == []
    assert not source.should_search(Query(ip=None), [])
    assert GeoIPRegionSource(runtime).search(Query(api_type="region", ip=UNKNOWN_IP)) == []
    response = locate(client, api_key, UNKNOWN_IP)
    assert response.status_code == 404
    assert country(client, api_key, UNKNOWN_IP).status_code == 404


def test_country_answers_with_genc_name(client, api_key):
    response = country(client, api_key, LONDON_IP)
    assert response.status_code == 200
    assert response.get_json() == {"country_code": "GB", "country_name": "United Kingdom"}
    # the name comes from the GENC table, not from the database
    data = country(client, api_key, NEW_YORK_IP).get_json()
    assert data == {"country_code": "US", "country_name": "United States"}


def test_region_accuracy_is_the_region_radius(runtime):
    (region,) = GeoIPRegionSource(runtime).search(Query(api_type="region", ip=LONDON_IP))
    assert (region.code, region.accuracy, region.score) == ("GB", 543000.0, 0.8)


# ---------------------------------------------------------------------------
# the "ipf" fallback marker


def test_fallback_ipf_only_when_the_query_had_networks(client, api_key):
    plain = locate(client, api_key, LONDON_IP).get_json()
    assert "fallback" not in plain
    with_wifi = locate(client, api_key, LONDON_IP, {"wifiAccessPoints": WIFI}).get_json()
    assert with_wifi["fallback"] == "ipf"
    assert with_wifi["location"] == plain["location"]
    # one network is no usable network data: the answer is a plain GeoIP one
    one = locate(client, api_key, LONDON_IP, {"wifiAccessPoints": WIFI[:1]}).get_json()
    assert "fallback" not in one

    region_plain = country(client, api_key, LONDON_IP).get_json()
    assert "fallback" not in region_plain
    region_wifi = country(client, api_key, LONDON_IP, {"wifiAccessPoints": WIFI}).get_json()
    assert region_wifi == {"country_code": "GB", "country_name": "United Kingdom",
                           "fallback": "ipf"}


def test_ipf_off_means_no_geoip_answer(client, api_key):
    response = locate(client, api_key, LONDON_IP,
                      {"wifiAccessPoints": WIFI, "fallbacks": {"ipf": False}})
    assert response.status_code == 404
    response = locate(client, api_key, LONDON_IP, {"considerIp": False})
    assert response.status_code == 404


# ---------------------------------------------------------------------------
# GEOIP_PATH: real databases, missing and unusable ones


def test_configured_database_and_genc_mapping(make_runtime, api_key, tmp_path, monkeypatch):
    path = write_mmdb(tmp_path / "city.mmdb", "GeoLite2-City", [
        {"networks": ["203.0.113.0/24"], "country": "AX", "location": [60.1, 19.9, 10],
         "city": 3041732},
        {"networks": ["198.51.100.0/24"], "country": "GB", "location": [0.0, -1.5, 10]},
    ])
    monkeypatch.setenv("GEOIP_PATH", str(path))
    client = client_for(make_runtime())
    # Aland is reported under its GENC region, Finland
    response = country(client, api_key, "203.0.113.5")
    assert response.get_json() == {"country_code": "FI", "country_name": "Finland"}
    data = locate(client, api_key, "203.0.113.5").get_json()
    assert data == {"location": {"lat": 60.1, "lng": 19.9}, "accuracy": 16400.0}
    # a record on the equator is taken as a record without a position
    assert locate(client, api_key, "198.51.100.1").status_code == 404
    # the demo data is not used when a database is configured
    assert locate(client, api_key, LONDON_IP).status_code == 404


def test_records_without_a_radius_and_the_radius_scale(make_runtime, api_key, tmp_path,
                                                       monkeypatch):
    path = write_mmdb(tmp_path / "city.mmdb", "DBIP-City-Lite", [
        {"networks": ["203.0.113.0/24"], "country": "GB", "location": [51.5, -0.12, None],
         "city": 2643743},
        {"networks": ["198.51.100.0/24"], "country": "DE", "location": [52.3, 9.7, None],
         "city": 2910831},
        {"networks": ["192.0.2.0/24"], "country": "DE", "location": [51.0, 10.0, 200]},
    ])
    monkeypatch.setenv("GEOIP_PATH", str(path))
    client = client_for(make_runtime())
    # without the database's radius, a city is answered with its known extent
    assert locate(client, api_key, "203.0.113.9").get_json()["accuracy"] == 40000.0
    assert locate(client, api_key, "198.51.100.9").get_json()["accuracy"] == 25000.0
    assert locate(client, api_key, "192.0.2.9").get_json()["accuracy"] == 328000.0

    # an operator who wants the database's own (67 %) radius sets the scale to 1
    monkeypatch.setenv("ICHNAEA_GEOIP__RADIUS_SCALE", "1.0")
    client = client_for(make_runtime())
    assert locate(client, api_key, "192.0.2.9").get_json()["accuracy"] == 200000.0
    assert locate(client, api_key, "203.0.113.9").get_json()["accuracy"] == 40000.0


@pytest.mark.parametrize("value", ["0", "-1", "wide"])
def test_radius_scale_must_be_a_positive_number(make_runtime, monkeypatch, value):
    from ichnaea_host.core.settings import ConfigError

    monkeypatch.setenv("ICHNAEA_GEOIP__RADIUS_SCALE", value)
    with pytest.raises(ConfigError, match="ICHNAEA_GEOIP__RADIUS_SCALE"):
        make_runtime()


def assert_geoip_down(client: Any) -> None:
    response = client.get("/__heartbeat__")
    assert response.status_code == 503
    status = response.get_json()
    assert status["database"]["up"] and status["redis"]["up"]
    assert status["geoip"]["up"] is False
    assert status["geoip"]["age_in_days"] == -1
    lb = client.get("/__lbheartbeat__")
    assert lb.status_code == 200 and lb.get_json() == {"status": "OK"}


def test_heartbeat_reports_the_database(client):
    response = client.get("/__heartbeat__")
    assert response.status_code == 200
    geoip = response.get_json()["geoip"]
    assert geoip["up"] is True
    assert geoip["age_in_days"] == 0
    assert geoip["version"].endswith("Z") and len(geoip["version"]) == 20


def test_missing_database_is_down_but_service_answers(make_runtime, api_key, tmp_path,
                                                     monkeypatch):
    monkeypatch.setenv("GEOIP_PATH", str(tmp_path / "nowhere" / "city.mmdb"))
    client = client_for(make_runtime())
    assert_geoip_down(client)
    assert locate(client, api_key, LONDON_IP).status_code == 404
    assert country(client, api_key, LONDON_IP).status_code == 404
    assert not (tmp_path / "nowhere").exists()


def test_database_of_the_wrong_type_is_refused(make_runtime, api_key, tmp_path, monkeypatch):
    path = write_mmdb(tmp_path / "country.mmdb", "GeoIP2-Country", [
        {"networks": ["81.2.69.0/24"], "country": "GB", "location": [51.5, -0.1, 10]},
    ])
    monkeypatch.setenv("GEOIP_PATH", str(path))
    client = client_for(make_runtime())
    assert_geoip_down(client)
    assert locate(client, api_key, LONDON_IP).status_code == 404


def test_corrupt_database_is_refused(make_runtime, api_key, tmp_path, monkeypatch):
    path = tmp_path / "broken.mmdb"
    path.write_bytes(b"this is not a MaxMind database" * 100)
    monkeypatch.setenv("GEOIP_PATH", str(path))
    client = client_for(make_runtime())
    assert_geoip_down(client)
    response = locate(client, api_key, LONDON_IP)
    assert response.status_code == 404


def test_database_that_appears_or_is_replaced_is_picked_up(make_runtime, api_key, tmp_path,
                                                          monkeypatch):
    path = tmp_path / "city.mmdb"
    monkeypatch.setenv("GEOIP_PATH", str(path))
    client = client_for(make_runtime())
    assert_geoip_down(client)

    write_mmdb(path, "GeoIP2-City", [
        {"networks": ["81.2.69.0/24"], "country": "GB", "location": [51.5, -0.12, 10]},
    ])
    assert client.get("/__heartbeat__").status_code == 200
    assert locate(client, api_key, LONDON_IP).get_json()["location"] == {"lat": 51.5,
                                                                       "lng": -0.12}
    # an update arrives the way geoipupdate delivers it: a new file moved into place
    update = write_mmdb(tmp_path / "city.mmdb.new", "GeoIP2-City", [
        {"networks": ["81.2.69.0/24"], "country": "GB", "location": [52.2, 0.12, 10]},
    ])
    update.replace(path)
    deadline = time.monotonic() + 5  # looked at again within a second
    while locate(client, api_key, LONDON_IP).get_json()["location"]["lat"] != 52.2 \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    assert locate(client, api_key, LONDON_IP).get_json()["location"] == {"lat": 52.2,
                                                                       "lng": 0.12}


# ichnaea doctor's line (the ichnaea_doctor_checks hook)


def doctor_line(rt: Any) -> Any:
    from ichnaea_host.cli.doctor import plugin_checks

    return next(r for r in plugin_checks(rt) if r.name == "geoip")


def test_doctor_says_the_demo_database_is_a_demo(runtime):
    result = doctor_line(runtime)
    assert result.status == "warning"
    assert "the demo database" in result.message and "GEOIP_PATH" in result.fix


def test_doctor_checks_the_configured_database(make_runtime, tmp_path, monkeypatch):
    import ichnaea_geoip.source

    path = write_mmdb(tmp_path / "city.mmdb", "GeoLite2-City", [
        {"networks": ["203.0.113.0/24"], "country": "GB", "location": [51.5, -0.1, 10]}])
    monkeypatch.setenv("GEOIP_PATH", str(path))
    rt = make_runtime()
    result = doctor_line(rt)
    assert (result.status, result.message) == ("ok", f"GeoLite2-City at {path}, 0 days old")
    monkeypatch.setattr(ichnaea_geoip.source, "STALE_DAYS", -1)
    assert doctor_line(rt).status == "warning"
    assert "geoipupdate" in doctor_line(rt).fix
    monkeypatch.setenv("GEOIP_PATH", str(tmp_path / "nowhere.mmdb"))
    missing = doctor_line(make_runtime())
    assert missing.status == "FAIL" and "nowhere.mmdb is missing" in missing.message
