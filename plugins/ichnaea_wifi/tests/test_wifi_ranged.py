"""NeoStumbler's WiFi RTT ranges (``estimatedDistance``) in submissions: a
two-sided range is kept in the queued report (so export targets receive it);
a one-sided or malformed one is left out, never the network, never a 400."""

from __future__ import annotations

from ichnaea_host.core.queues import INCOMING_QUEUE


def entry(mac: str, ranged=None) -> dict:
    out = {"macAddress": mac, "signalStrength": -60, "frequency": 5180}
    if ranged is not None:
        out["estimatedDistance"] = ranged
    return out


def test_two_sided_ranges_are_kept_and_one_sided_ones_left_out(client, api_key, runtime):
    item = {"position": {"latitude": 52.52, "longitude": 13.405, "accuracy": 4.0,
                         "source": "gnss"},
            "wifiAccessPoints": [
                entry("02:00:5e:31:00:01", {"distance": 7.25, "accuracy": 1.5,
                                            "type": "TWO_SIDED"}),
                entry("02:00:5e:31:00:02", {"distance": 40, "accuracy": 30,
                                            "type": "ONE_SIDED"}),
                entry("02:00:5e:31:00:03", {"distance": "far", "type": "TWO_SIDED"}),
                entry("02:00:5e:31:00:04", {"distance": 12.0, "type": "two_sided",
                                            "accuracy": -1}),
                entry("02:00:5e:31:00:05", [1, 2]),
                entry("02:00:5e:31:00:06"),
            ]}
    response = client.post(f"/v2/geosubmit?key={api_key}", json={"items": [item]})
    assert response.status_code == 200, response.get_data(as_text=True)
    queued = runtime.queue(INCOMING_QUEUE).dequeue(10)
    networks = {e["macAddress"]: e for e in queued[0]["report"]["wifiAccessPoints"]}
    assert len(networks) == 6  # every network stays
    assert networks["02:00:5e:31:00:01"]["estimatedDistance"] == {
        "distance": 7.25, "accuracy": 1.5, "type": "TWO_SIDED"}
    assert networks["02:00:5e:31:00:04"]["estimatedDistance"] == {
        "distance": 12.0, "type": "TWO_SIDED"}
    for mac in ("02:00:5e:31:00:02", "02:00:5e:31:00:03", "02:00:5e:31:00:05",
                "02:00:5e:31:00:06"):
        assert "estimatedDistance" not in networks[mac], mac
