"""The service on a three-node Galera cluster: workers on two nodes write,
the web tier on the third reads; a lock that every node sees."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from .conftest import SCALE, GaleraCluster, Service
from .test_redis_cluster import mac, report, runtime, wait_located

pytestmark = [pytest.mark.scale,
              pytest.mark.skipif(not SCALE, reason="set ICHNAEA_TEST_SCALE=1 (make test-scale)")]


@pytest.fixture
def cluster(galera: GaleraCluster | None) -> GaleraCluster:
    if galera is None:
        pytest.skip("no Galera here (galera-4 is needed)")
    return galera


def stations_on(cluster: GaleraCluster, node: int, macs: list[str]) -> int:
    """How many of the wifi stations the node holds (in whichever wifi tables)."""
    tables = [row[0] for row in cluster.sql(
        node, "SELECT table_name FROM information_schema.columns WHERE table_schema = "
        "'ichnaea' AND table_name LIKE 'wifi%' AND column_name = 'mac'")]
    union = " UNION ALL ".join(f"SELECT mac FROM `ichnaea`.`{t}`" for t in tables)
    keys = ", ".join(f"UNHEX('{m}')" for m in macs)
    rows = cluster.sql(node, f"SELECT COUNT(*) FROM ({union}) AS s WHERE mac IN ({keys})")
    return int(rows[0][0])


def test_stations_written_on_two_nodes_are_read_on_every_node(service: Service,
                                                               cluster: GaleraCluster):
    numbers = list(range(3000, 3020))
    for start in range(0, 20, 2):
        body = {"items": [report(n) for n in numbers[start:start + 2]]}
        response = requests.post(f"{service.url}/v2/geosubmit?key=scale", json=body, timeout=30)
        assert response.status_code == 200
    assert wait_located(service, numbers) == [], service.logs()
    macs = [mac(n, i) for n in numbers for i in range(2)]
    assert [stations_on(cluster, node, macs) for node in range(3)] == [40, 40, 40]


def test_bulk_load_lock_holds_across_nodes_and_galera_keeps_the_indexes(
        service: Service, cluster: GaleraCluster, monkeypatch):
    from ichnaea_cell import bulk

    monkeypatch.setattr(bulk, "BULK_MIN_ROWS", 1)
    first, second = runtime(service, 1), runtime(service, 2)
    notes: list[Any] = []
    try:
        holder = bulk.IndexKeeper(first.db.rw, first.redis)  # an import on node 1
        assert holder.lock()
        try:
            with bulk.bulk_load(second, 10, notes.append) as tables:  # one on node 2
                assert tables == []
            assert "another import is loading the cell tables in bulk" in notes[-1]
        finally:
            holder.close()
        with bulk.bulk_load(second, 10, notes.append) as tables:
            assert tables == []
        assert notes[-1].startswith("Galera cluster: this import (10 lines) writes row by row")
        keeper = bulk.IndexKeeper(second.db.rw, second.redis)
        try:
            assert keeper.galera()
            assert [keeper.missing(table) for table in bulk.TABLES] == [[]] * len(bulk.TABLES)
        finally:
            keeper.close()
    finally:
        first.close()
        second.close()
