"""How well the service locates the synthetic world, against the original's method.

For every query set of ``bench/world.py`` (with the true position of each
query) it asks two methods:

* **ours**: ``POST /v1/geolocate`` of the service itself (the Flask app in
  this process, every installed plugin, the world loaded in MariaDB);
* **baseline**: the original's method (``bench/baseline.py``) on the same
  stations, with the same GeoIP source and result selection.

and prints, per query set and method: the hit rate (an answer whose accuracy
class is as good as the query's data can give: at most 500 m when WiFi or
beacons were sent, 50 km for cells alone, any answer for an IP alone), the
median and 90th percentile error of the hits in metres, the median accuracy
answered, and the share of hits whose true position lies inside the
answered circle (the service promises 95 %).

Usage::

    python bench/accuracy.py            # loads the world first if needed (about 2-4 minutes)
    python bench/accuracy.py --reload   # rebuild the world in the database
    python bench/accuracy.py --kinds wifi,wifi_moved --json out.json

Environment: ``BENCH_DB_URI`` (default the local MariaDB's ``ichnaea_bench``),
``BENCH_REDIS_URI`` (default Redis database 10), and any ``ICHNAEA_WIFI__*`` /
``ICHNAEA_BLUE__*`` setting to try other values for ours.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import baseline  # noqa: E402
import world as world_mod  # noqa: E402

HIGH = 500.0  # metres: the "high" accuracy class, what WiFi and beacon queries expect
MEDIUM = 50000.0  # metres: the "medium" class, what cell queries expect
#: the levels of ``?confidence=`` calibrated: the quantile of error / accuracy
CONFIDENCE_LEVELS = (50, 60, 68, 75, 80, 85, 90, 95, 99)
KIND_ORDER = ("wifi", "wifi_moved", "wifi_mobile", "blue", "mixed", "cell", "geoip")


def ask_ours(client: Any, query: dict[str, Any]) -> tuple[float, float, float] | None:
    headers = {"X-Forwarded-For": query["ip"]} if query["ip"] else {}
    response = client.post(f"/v1/geolocate?key={world_mod.API_KEY}", json=query["body"],
                           headers=headers)
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise RuntimeError(f"query {query['id']}: HTTP {response.status_code} "
                           f"{response.get_data(as_text=True)[:200]}")
    data = response.get_json()
    return data["location"]["lat"], data["location"]["lng"], data["accuracy"]


def ask_baseline(rt: Any, fragments: dict[str, Any],
                 query: dict[str, Any]) -> tuple[float, float, float] | None:
    found = baseline.locate(rt, fragments, query["body"], query["ip"])
    if found is None:
        return None
    return round(found.lat, 7), round(found.lon, 7), found.accuracy


def is_hit(query: dict[str, Any], answer: tuple[float, float, float] | None) -> bool:
    """An answer as good as the query's best data can give (spec/api.md §3.8)."""
    if answer is None:
        return False
    body = query["body"]
    if body.get("wifiAccessPoints") or body.get("bluetoothBeacons"):
        return answer[2] <= HIGH
    if body.get("cellTowers"):
        return answer[2] <= MEDIUM
    return True


def score(queries: list[dict[str, Any]],
          answers: list[tuple[float, float, float] | None]) -> dict[str, Any]:
    from ichnaea_host.core.geo import distance

    errors, accuracies, inside = [], [], []
    for query, answer in zip(queries, answers, strict=True):
        if not is_hit(query, answer):
            continue
        assert answer is not None
        error = distance(query["lat"], query["lon"], answer[0], answer[1])
        errors.append(error)
        accuracies.append(answer[2])
        inside.append(error <= answer[2])
    ratios = [distance(q["lat"], q["lon"], a[0], a[1]) / a[2]
              for q, a in zip(queries, answers, strict=True) if a is not None and a[2] > 0]
    out: dict[str, Any] = {"queries": len(queries), "hits": len(errors),
                           "hit_rate": len(errors) / len(queries) if queries else None}
    if errors:
        out.update(median_error=float(np.median(errors)),
                   p90_error=float(np.percentile(errors, 90)),
                   median_accuracy=float(np.median(accuracies)),
                   inside=float(np.mean(inside)))
    if ratios:
        out["confidence"] = {level: round(float(np.percentile(ratios, level)), 3)
                             for level in CONFIDENCE_LEVELS}
    return out


def run(world: Any, rt: Any, kinds: list[str]) -> dict[str, dict[str, Any]]:
    from ichnaea_host.app import create_app

    app = create_app(runtime=rt)
    client = app.test_client()
    fragments = {f.PLUGIN_NAME: f for f in app.extensions["ichnaea.fragments"]}
    results: dict[str, dict[str, Any]] = {}
    for kind in kinds:
        queries = [q for q in world.queries if q["kind"] == kind]
        if not queries:
            results[kind] = {"ours": None, "baseline": None}
            continue
        start = time.perf_counter()
        ours = [ask_ours(client, q) for q in queries]
        ours_s = time.perf_counter() - start
        start = time.perf_counter()
        base = [ask_baseline(rt, fragments, q) for q in queries]
        base_s = time.perf_counter() - start
        results[kind] = {
            "ours": dict(score(queries, ours), ms_per_query=1000 * ours_s / len(queries)),
            "baseline": dict(score(queries, base), ms_per_query=1000 * base_s / len(queries)),
        }
    return results


def table(results: dict[str, dict[str, Any]]) -> str:
    head = (f"{'query set':<12} {'method':<9} {'queries':>7} {'hit rate':>8} "
            f"{'median m':>9} {'p90 m':>8} {'accuracy':>9} {'inside':>7}")
    lines = [head, "-" * len(head)]

    def fmt(value: Any, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    for kind, methods in results.items():
        for method in ("ours", "baseline"):
            r = methods.get(method)
            if r is None:
                lines.append(f"{kind:<12} {method:<9} {'(no queries: slot kept)':>40}")
                continue
            lines.append(
                f"{kind:<12} {method:<9} {r['queries']:>7} {fmt(r['hit_rate'], '8.1%')} "
                f"{fmt(r.get('median_error'), '9.1f')} {fmt(r.get('p90_error'), '8.1f')} "
                f"{fmt(r.get('median_accuracy'), '9.1f')} {fmt(r.get('inside'), '7.1%')}")
    return "\n".join(lines)


def confidence_table(results: dict[str, dict[str, Any]]) -> str:
    """Ours, per query set: the radius holding the true position at each
    level, in units of the accuracy answered: the ``CONFIDENCE`` tables of
    the location sources come from here."""
    head = f"{'query set':<12} " + " ".join(f"{level:>6}%" for level in CONFIDENCE_LEVELS)
    lines = ["confidence: error / accuracy at each level (ours, every answer)", head,
             "-" * len(head)]
    for kind, methods in results.items():
        table = (methods.get("ours") or {}).get("confidence")
        if table:
            lines.append(f"{kind:<12} " + " ".join(f"{table[level]:>7.3f}"
                                                   for level in CONFIDENCE_LEVELS))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=world_mod.Params.seed)
    parser.add_argument("--reload", action="store_true", help="rebuild the world's database")
    parser.add_argument("--kinds", default=",".join(KIND_ORDER),
                        help="query sets to run, comma separated")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    world = world_mod.build(world_mod.Params(seed=args.seed))
    print(f"world {world.name}: built in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    rt = world_mod.ensure_loaded(world, force=args.reload,
                                 log=lambda m: print(m, file=sys.stderr))
    try:
        start = time.perf_counter()
        kinds = [k for k in args.kinds.split(",") if k]
        results = run(world, rt, kinds)
        print(f"queries asked in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    finally:
        rt.close()
    print(table(results))
    print()
    print(confidence_table(results))
    if args.json:
        args.json.write_text(json.dumps({"world": world.name, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
