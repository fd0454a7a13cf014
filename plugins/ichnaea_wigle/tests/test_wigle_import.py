"""``ichnaea import wigle`` on files in the shapes their producers write
(WiGLE's Android app, 1.4 and 1.6; an ESP32 wardriver), then the pipeline:
the networks answer geolocates at the positions they were seen at, ``_nomap``
networks never do, and a file that is not WiGLE CSV imports nothing."""

from __future__ import annotations

import gzip

import pytest
from click.testing import CliRunner

from ichnaea_host.api.openapi import checking_client
from ichnaea_host.cli.commands import cli
from ichnaea_host.plugins.runtime import INCOMING_QUEUE

APP_14 = ("WigleWifi-1.4,appRelease=2.53,model=Pixel 4a,release=11,device=sunfish,"
          "display=RQ3A.211001.001,board=sunfish,brand=google")
HEADER_14 = ("MAC,SSID,AuthMode,FirstSeen,Channel,RSSI,CurrentLatitude,CurrentLongitude,"
             "AltitudeMeters,AccuracyMeters,Type")
# the app writes its 1.6 pre-header as a CSV record: a field with a comma is quoted
APP_16 = ('WigleWifi-1.6,appRelease=2.84,model=Pixel 7,release=14,device=panther,'
          '"display=AP2A.240805.005, release-keys",board=panther,brand=google,star=Sol,'
          'body=3,subBody=0')
HEADER_16 = ("MAC,SSID,AuthMode,FirstSeen,Channel,Frequency,RSSI,CurrentLatitude,"
             "CurrentLongitude,AltitudeMeters,AccuracyMeters,RCOIs,MfgrId,Type")
ESP32 = ("WigleWifi-1.6,appRelease=v1.2,model=WarMachine,release=v1.1,device=C5&&C6,"
         "display=none,board=ESP32C5+ESP32C6,brand=D3h420")

# Berlin, two sightings 11 m apart, and Munich
BERLIN = [(52.52, 13.405), (52.5201, 13.405)]
MUNICH = [(48.137, 11.575), (48.137, 11.5751)]
NOWHERE = {"X-Forwarded-For": "192.0.2.1"}


def write(path, lines, *, gz=False, eol="\n"):
    data = (eol.join(lines) + eol).encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return str(path)


@pytest.fixture
def invoke(runtime, backend_uris, tmp_path):
    db_uri, redis_uri = backend_uris
    env = {"DB_READWRITE_URI": db_uri, "REDIS_URI": redis_uri,
           "ICHNAEA_VAR_DIR": str(tmp_path / "var"), "LOGGING_LEVEL": "WARNING"}
    return lambda *args: CliRunner().invoke(cli, list(args), env=env)


@pytest.fixture
def service(app, api_key_factory, internal_export, drain):
    """A client whose key gets raw answers (each network with its learnt position)."""
    api_key_factory("microg", allow_raw=True)
    return checking_client(app)


def locate(client, wifi=(), blue=(), cells=()):
    body = {"considerIp": False, "fallbacks": {"lacf": False},
            "wifiAccessPoints": [{"macAddress": m} for m in wifi],
            "bluetoothBeacons": [{"macAddress": m} for m in blue],
            "cellTowers": [dict(zip(("radioType", "mobileCountryCode", "mobileNetworkCode",
                                     "locationAreaCode", "cellId"), c, strict=True))
                           for c in cells]}
    response = client.post("/v1/geolocate?key=microg", json=body, headers=NOWHERE)
    assert response.status_code in (200, 404), response.get_data(as_text=True)
    return response.get_json() if response.status_code == 200 else None


def learnt(client, *macs, blue=False):
    """{mac: (lat, lon)} of the networks the service has learnt, from a raw answer."""
    answer = locate(client, blue=macs) if blue else locate(client, wifi=macs)
    if answer is None:
        return {}
    field = "bluetoothBeacon" if blue else "wifiAccessPoint"
    return {e[field]["macAddress"]: (e["location"]["lat"], e["location"]["lng"])
            for e in answer["raw"] if not e["omit"]}


def near(position, expected, metres=30):
    return (abs(position[0] - expected[0]) < metres / 111_000
            and abs(position[1] - expected[1]) < metres / 70_000)


def test_android_app_14(service, invoke, drain, tmp_path):
    """WiGLE's app 1.4: WiFi (an old app's comma replaced by ``_``), BLE, GSM,
    LTE and CDMA rows of two sightings; one WiFi network opted out."""
    rows = [APP_14, HEADER_14]
    for i, (lat, lon) in enumerate(BERLIN):
        seen = f"2024-05-01 12:00:0{i * 5},"
        where = f",{lat},{lon},34.5,{4 + i}"
        rows += [
            f"02:00:5e:a0:00:01,Cafe_ Bar,[WPA2-PSK-CCMP][ESS],{seen}6,-61{where},WIFI",
            f"02:00:5e:a0:00:02,Cafe-guest,[ESS],{seen}11,-67{where},WIFI",
            f"02:00:5e:a0:00:03,Home_nomap,[WPA2-PSK-CCMP][ESS],{seen}36,-70{where},WIFI",
            f"02:00:5e:a0:00:04,Home_nomap_5G,[WPA2-PSK-CCMP][ESS],{seen}40,-72{where},WIFI",
            f"02:00:5e:b0:00:01,Watch,Misc [LE],{seen}0,-80{where},BLE",
            f"02:00:5e:b0:00:02,,Misc [LE],{seen}0,-82{where},BLE",
            f"26201_1234_56789,Telekom.de,GSM;de,{seen}62,-85{where},GSM",
            f"26202_5001_12345678,Vodafone.de,LTE;de,{seen}6300,-95{where},LTE",
            f"4_1_{i + 2},Sprint,CDMA;us,{seen}0,-80{where},CDMA",
        ]
    rows.append("02:00:5e:a0:00:09,Nowhere,[ESS],2024-05-01 12:00:09,1,-80,0,0,0,0,WIFI")
    path = write(tmp_path / "WigleWifi_20240501120000.csv", rows)
    result = invoke("import", "wigle", path)
    assert result.exit_code == 0, result.output
    assert ("WigleWifi_20240501120000.csv: 19 rows read, 16 used in 2 reports, 3 skipped "
            "(2 CDMA cells, 1 no position)") in result.output
    drain()
    wifi = learnt(service, "02:00:5e:a0:00:01", "02:00:5e:a0:00:02", "02:00:5e:a0:00:03",
                  "02:00:5e:a0:00:04")
    assert set(wifi) == {"02:00:5e:a0:00:01", "02:00:5e:a0:00:02"}  # not the _nomap ones
    assert all(near(p, (52.52005, 13.405)) for p in wifi.values())
    assert locate(service, wifi=["02:00:5e:a0:00:03", "02:00:5e:a0:00:04"]) is None
    blue = learnt(service, "02:00:5e:b0:00:01", "02:00:5e:b0:00:02", blue=True)
    assert len(blue) == 2 and all(near(p, (52.52005, 13.405)) for p in blue.values())
    for cell in (("gsm", 262, 1, 1234, 56789), ("lte", 262, 2, 5001, 12345678)):
        answer = locate(service, cells=[cell])
        assert answer is not None, cell
        assert near((answer["location"]["lat"], answer["location"]["lng"]), (52.52005, 13.405))
    # the rows' channels (ARFCN 62, EARFCN 6300) pass the submit schema and are learnt
    from ichnaea_cell.cells import encode_cellid
    from ichnaea_cell.models import CELL_MODELS

    for radio, cell, arfcn in (("gsm", (262, 1, 1234, 56789), 62),
                               ("lte", (262, 2, 5001, 12345678), 6300)):
        model = CELL_MODELS[radio]
        row = model.get(model.cellid == encode_cellid(radio, *cell).hex())
        assert row.arfcn == arfcn


def test_android_app_16_gzip_with_nr(service, invoke, drain, runtime, tmp_path):
    """The app's 1.6 files are gzip-compressed; a quoted SSID with a comma, the
    Frequency, RCOIs and MfgrId columns, an NR cell, and FirstSeen in UTC."""
    rows = [APP_16, HEADER_16]
    for i, (lat, lon) in enumerate(MUNICH):
        seen = f"2024-06-01 08:30:1{i}"
        where = f"{lat},{lon},520,3.5"
        rows += [
            f'02:00:5e:c0:00:01,"Café, Bar",[WPA2-PSK-CCMP][ESS],{seen},1,2412,-55,{where},,,WIFI',
            f"02:00:5e:c0:00:02,Bahn,[ESS],{seen},149,5745,-66,{where},5A03BA0000,,WIFI",
            f"02:00:5e:d0:00:01,Tag,Misc [LE],{seen},,,-75,{where},,76,BLE",
            f"02:00:5e:d0:00:02,Tag 2,Misc [BT],{seen},,,-77,{where},,,BT",
            f"26203_70000_68000000000,o2 - de,NR;de,{seen},632628,632628,-90,{where},,,NR",
        ]
    path = write(tmp_path / "WigleWifi_20240601083000.csv.gz", rows, gz=True)
    result = invoke("import", "wigle", path)
    assert result.exit_code == 0, result.output
    assert "10 rows read, 10 used in 2 reports, 0 skipped" in result.output
    # what the pipeline got: a submission's reports, FirstSeen read as UTC
    incoming = runtime.queue(INCOMING_QUEUE)
    queued = incoming.dequeue(10)
    incoming.enqueue(queued)
    assert [(q["api_key"], q["source"], q["report"]["timestamp"]) for q in queued] == [
        (None, "gnss", 1717230610000), (None, "gnss", 1717230611000)]
    report = queued[0]["report"]
    assert report["position"] == {"latitude": 48.137, "longitude": 11.575, "altitude": 520.0,
                                  "accuracy": 3.5, "source": "gnss"}
    assert report["wifiAccessPoints"][0] == {"macAddress": "02:00:5e:c0:00:01",
                                             "ssid": "Café, Bar", "channel": 1,
                                             "frequency": 2412, "signalStrength": -55}
    drain()
    wifi = learnt(service, "02:00:5e:c0:00:01", "02:00:5e:c0:00:02")
    assert len(wifi) == 2 and all(near(p, (48.137, 11.57505)) for p in wifi.values())
    assert len(learnt(service, "02:00:5e:d0:00:01", "02:00:5e:d0:00:02", blue=True)) == 2
    answer = locate(service, cells=[("nr", 262, 3, 70000, 68000000000)])
    assert answer is not None
    assert near((answer["location"]["lat"], answer["location"]["lng"]), (48.137, 11.57505))


def test_esp32_wardriver(service, invoke, drain, tmp_path):
    """An ESP32 wardriver: CRLF, a Frequency column, quoted SSIDs with commas,
    an SSID with a comma it forgot to quote, AccuracyMeters empty."""
    rows = [ESP32, HEADER_16]
    for i, (lat, lon) in enumerate(BERLIN):
        seen = f"2025-03-02 17:4{i}:00"
        where = f"{lat},{lon},41.0,"
        rows += [
            f'02:00:5e:e0:00:01,"Hotel, Lobby",[WPA2_PSK],{seen},6,2437,-58,{where},,,WIFI',
            f'02:00:5e:e0:00:02,"say ""hi""",[OPEN],{seen},11,2462,-63,{where},,,WIFI',
            f"02:00:5e:e0:00:03,Flat 3,b,[WPA2_PSK],{seen},1,2412,-70,{where},,,WIFI",
            f"02:00:5e:e0:00:04,x_nomap,[OPEN],{seen},1,2412,-70,{where},,,WIFI",
        ]
    rows.append("02:00:5e:e0:00:05,short,[OPEN],2025-03-02 17:42:00,1")
    path = write(tmp_path / "wardrive_1.log", rows, eol="\r\n")
    result = invoke("import", "wigle", path)
    assert result.exit_code == 0, result.output
    assert "9 rows read, 8 used in 2 reports, 1 skipped (1 malformed rows)" in result.output
    drain()
    macs = ["02:00:5e:e0:00:01", "02:00:5e:e0:00:02", "02:00:5e:e0:00:03",
            "02:00:5e:e0:00:04"]
    wifi = learnt(service, *macs)
    assert set(wifi) == set(macs[:3])
    assert all(near(p, (52.52005, 13.405)) for p in wifi.values())


def test_several_files_and_a_file_that_is_not_wigle(service, invoke, drain, runtime, tmp_path):
    good = [write(tmp_path / f"run{n}.csv", [
        APP_14, HEADER_14,
        *(f"02:00:5e:f{n}:00:0{m},net{m},[ESS],2024-05-01 12:00:00,1,-60,"
          f"{BERLIN[0][0] + n * 0.001},13.405,0,5,WIFI" for m in range(1, 3))])
        for n in range(2)]
    kismet = write(tmp_path / "Kismet-20240501.csv", [
        "BSSID,ESSID,Channel,Signal", "02:00:5e:f9:00:01,net,1,-60"])
    result = invoke("import", "wigle", *good, kismet)
    assert result.exit_code == 1
    assert (f"{kismet}: line 1: not a WiGLE CSV file: expected a 'WigleWifi-1.x,...' line, "
            "found 'BSSID,ESSID,Channel,Signal'; nothing imported") in result.output
    assert runtime.queue(INCOMING_QUEUE).size() == 0

    no_header = write(tmp_path / "no-header.csv", [APP_14, "BSSID,ESSID,Channel,Signal"])
    result = invoke("import", "wigle", no_header)
    assert result.exit_code == 1
    assert "no-header.csv: line 2: not a WiGLE CSV header: no MAC, FirstSeen" in result.output

    result = invoke("import", "wigle", *good)
    assert result.exit_code == 0, result.output
    assert "run0.csv: 2 rows read, 2 used in 1 report," in result.output
    assert "total: 4 rows read, 4 used in 2 reports, 0 skipped" in result.output
    drain()
    assert len(learnt(service, "02:00:5e:f1:00:01", "02:00:5e:f1:00:02")) == 2


def test_truncated_gzip_names_its_line(invoke, runtime, tmp_path):
    rows = [APP_14, HEADER_14] + [
        f"02:00:5e:{n // 256:02x}:{n % 256:02x}:01,n{n},[ESS],2024-05-01 12:{n // 60 % 60:02d}:"
        f"{n % 60:02d},1,-60,52.5,13.4,0,5,WIFI" for n in range(3000)]
    data = gzip.compress(("\n".join(rows) + "\n").encode())
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(data[: len(data) * 2 // 3])
    result = invoke("import", "wigle", str(path))
    assert result.exit_code == 1
    assert f"{path}: line " in result.output and "cannot be read: EOFError" in result.output
    queued = runtime.queue(INCOMING_QUEUE).size()
    assert 0 < queued < 3000
    assert (f"; {queued} reports of cut.csv.gz were queued before it, its other rows were not"
            in result.output)


def test_first_seen_in_local_time(invoke, runtime, tmp_path):
    """Files of WiGLE's app before August 2023 hold the phone's local time."""
    path = write(tmp_path / "WigleWifi_20230501.csv", [
        APP_14, HEADER_14,
        "02:00:5e:a1:00:01,a,[ESS],2023-05-01 14:00:00,1,-60,52.52,13.405,0,5,WIFI",
        "02:00:5e:a1:00:02,b,[ESS],not a time,1,-60,52.52,13.405,0,5,WIFI"])
    result = invoke("import", "wigle", "--utc-offset", "+02:00", path)
    assert result.exit_code == 0, result.output
    assert "2 rows read, 2 used in 2 reports" in result.output
    reports = [item["report"] for item in runtime.queue(INCOMING_QUEUE).dequeue(10)]
    # 12:00 UTC; a time that cannot be read is the time of the import, as for a submission
    assert reports[0]["timestamp"] == 1682942400000
    assert reports[1]["timestamp"] > 1_700_000_000_000
