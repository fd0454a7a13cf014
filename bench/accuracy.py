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
answered circle (the service promises 95 %), and inside the circle answered
to ``?confidence=90`` and ``?confidence=68`` (ours asks the service again
with that parameter; the original had none, so its column scales its
accuracy as a circular normal error would, ``confidence_factor`` without a
table).

Several worlds (``--worlds``, presets of ``bench/world.py``: ``ours`` the
world the service was tuned on, ``ours6`` the same with half the cities,
``sparse`` about two observations per network, larger GPS error, another
signal model, ``dense`` every network observed six times or more within a
60 m range) are run one after the other, each in its own process, database
and Redis database, and printed side by side. Each world is learnt through
the service's own pipeline from its GNSS-tagged reports, over 14 service
days (``bench/world.py``): the accuracy ours answers is what the service's
live calibration measured on those reports (README, "Measured accuracy").

Usage::

    python bench/accuracy.py            # the default world; loads it first if needed (2-4 min)
    python bench/accuracy.py --reload   # rebuild the world in the database
    python bench/accuracy.py --kinds wifi,wifi_moved --json out.json
    python bench/accuracy.py --worlds ours6,sparse,dense --reload --json out.json
    python bench/accuracy.py --worlds sparse:gps_scale=1.0:obs_per_network=4

``--json`` writes everything: per world its parameters, how often its
networks were observed, the load's and queries' times, per query set and
method every figure above, the confidence quantiles, and one row per query
(error and accuracy at each confidence level of both methods).

Environment: ``BENCH_DB_URI`` (default the local MariaDB's ``ichnaea_bench``),
``BENCH_REDIS_URI`` (default Redis database 10), and any ``ICHNAEA_WIFI__*`` /
``ICHNAEA_BLUE__*`` setting to try other values for ours.
"""

from __future__ import annotations

import argparse
import json
import re
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


#: the ``?confidence=`` levels asked besides the default (95)
LEVELS = (90, 68)


def ask_ours(client: Any, query: dict[str, Any],
             confidence: int | None = None) -> tuple[float, float, float] | None:
    headers = {"X-Forwarded-For": query["ip"]} if query["ip"] else {}
    extra = f"&confidence={confidence}" if confidence is not None else ""
    response = client.post(f"/v1/geolocate?key={world_mod.API_KEY}{extra}", json=query["body"],
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
          answers: list[tuple[float, float, float] | None],
          at_levels: dict[int, list[float | None]] | None = None) -> dict[str, Any]:
    """The figures of one method on one query set; ``at_levels``: the accuracy
    answered to each other ``?confidence=`` level, per query (None: no answer)."""
    from ichnaea_host.core.geo import distance

    at_levels = at_levels or {}
    errors, accuracies, inside = [], [], []
    inside_at: dict[int, list[bool]] = {level: [] for level in at_levels}
    accuracy_at: dict[int, list[float]] = {level: [] for level in at_levels}
    for n, (query, answer) in enumerate(zip(queries, answers, strict=True)):
        if not is_hit(query, answer):
            continue
        assert answer is not None
        error = distance(query["lat"], query["lon"], answer[0], answer[1])
        errors.append(error)
        accuracies.append(answer[2])
        inside.append(error <= answer[2])
        for level, values in at_levels.items():
            value = values[n]
            if value is not None:
                inside_at[level].append(error <= value)
                accuracy_at[level].append(value)
    ratios = [distance(q["lat"], q["lon"], a[0], a[1]) / a[2]
              for q, a in zip(queries, answers, strict=True) if a is not None and a[2] > 0]
    out: dict[str, Any] = {"queries": len(queries), "hits": len(errors),
                           "hit_rate": len(errors) / len(queries) if queries else None}
    if errors:
        out.update(median_error=float(np.median(errors)),
                   p90_error=float(np.percentile(errors, 90)),
                   median_accuracy=float(np.median(accuracies)),
                   inside=float(np.mean(inside)))
        for level in at_levels:
            if inside_at[level]:
                out[f"inside_{level}"] = float(np.mean(inside_at[level]))
                out[f"median_accuracy_{level}"] = float(np.median(accuracy_at[level]))
    if ratios:
        out["confidence"] = {level: round(float(np.percentile(ratios, level)), 3)
                             for level in CONFIDENCE_LEVELS}
    return out


def run(world: Any, rt: Any, kinds: list[str],
        rows: list[list[Any]] | None = None) -> dict[str, dict[str, Any]]:
    """Ask both methods every query of ``kinds``; ``rows`` collects one row per
    query (see ``ROW_FIELDS``)."""
    from ichnaea_host.app import create_app
    from ichnaea_host.core.geo import distance
    from ichnaea_host.core.results import confidence_factor

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
        ours_at: dict[int, list[float | None]] = {}
        for level in LEVELS:
            answers = [ask_ours(client, q, level) if a is not None else None
                       for q, a in zip(queries, ours, strict=True)]
            ours_at[level] = [a[2] if a is not None else None for a in answers]
        start = time.perf_counter()
        base = [ask_baseline(rt, fragments, q) for q in queries]
        base_s = time.perf_counter() - start
        base_at = {level: [a[2] * confidence_factor(level) if a is not None else None
                           for a in base] for level in LEVELS}
        results[kind] = {
            "ours": dict(score(queries, ours, ours_at),
                         ms_per_query=1000 * ours_s / len(queries)),
            "baseline": dict(score(queries, base, base_at),
                             ms_per_query=1000 * base_s / len(queries)),
        }
        if rows is not None:
            for n, q in enumerate(queries):
                row: list[Any] = [q["id"], kind, q["tags"].get("networks")]
                for answer, at in ((ours[n], ours_at), (base[n], base_at)):
                    if answer is None:
                        row += [None] * (3 + len(LEVELS))
                        continue
                    row += [round(distance(q["lat"], q["lon"], answer[0], answer[1]), 1),
                            round(answer[2], 1), is_hit(q, answer)]
                    row += [None if at[level][n] is None else round(at[level][n], 1)
                            for level in LEVELS]
                rows.append(row)
    return results


#: the columns of the per-query rows of ``--json``
ROW_FIELDS = ["id", "kind", "networks"] + [
    f"{method}_{field}" for method in ("ours", "baseline")
    for field in ("error", "accuracy", "hit", *(f"accuracy_{level}" for level in LEVELS))]


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(results: dict[str, dict[str, Any]], world: str | None = None) -> str:
    """One row per query set and method; ``world``: a first column naming it."""
    lead = f"{'world':<8} " if world is not None else ""
    head = (f"{lead}{'query set':<12} {'method':<9} {'queries':>7} {'hit rate':>8} "
            f"{'median m':>9} {'p90 m':>8} {'accuracy':>9} {'inside':>7} "
            + " ".join(f"{'@' + str(level):>6}" for level in LEVELS))
    lines = [head, "-" * len(head)]
    lead = f"{world:<8} " if world is not None else ""
    for kind, methods in results.items():
        for method in ("ours", "baseline"):
            r = methods.get(method)
            if r is None:
                lines.append(f"{lead}{kind:<12} {method:<9} {'(no queries: slot kept)':>40}")
                continue
            lines.append(
                f"{lead}{kind:<12} {method:<9} {r['queries']:>7} {_fmt(r['hit_rate'], '8.1%')} "
                f"{_fmt(r.get('median_error'), '9.1f')} {_fmt(r.get('p90_error'), '8.1f')} "
                f"{_fmt(r.get('median_accuracy'), '9.1f')} {_fmt(r.get('inside'), '7.1%')} "
                + " ".join(_fmt(r.get(f"inside_{level}"), '6.1%') for level in LEVELS))
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
            lines.append(f"{kind:<12} " + " ".join(
                f"{table.get(level, table.get(str(level))):>7.3f}" for level in CONFIDENCE_LEVELS))
    return "\n".join(lines)


def describe(world: Any) -> dict[str, Any]:
    """What a reader needs to know of a world besides its name."""
    summary = world_mod.summary(world)
    return {k: summary[k] for k in ("name", "cities", "wifi_networks", "beacons", "cells",
                                    "reports", "observations", "wifi_observed",
                                    "cells_observed", "shape")}


def run_world(spec: str, args: argparse.Namespace) -> dict[str, Any]:
    """Load (if needed) and ask one world, in this process."""
    label, params = world_mod.preset(spec)
    if args.seed is not None:
        params = params.replace(seed=args.seed)
    start = time.perf_counter()
    world = world_mod.build(params)
    build_s = time.perf_counter() - start
    print(f"world {spec} ({world.name}): built in {build_s:.1f} s", file=sys.stderr)
    db_uri, redis_uri = world_mod.backends(spec, params)
    log: list[str] = []

    def say(message: str) -> None:
        log.append(message)
        print(f"[{spec}] {message}", file=sys.stderr)

    start = time.perf_counter()
    rt = world_mod.ensure_loaded(world, force=args.reload, log=say, db_uri=db_uri,
                                 redis_uri=redis_uri)
    load_s = time.perf_counter() - start
    rows: list[list[Any]] = []
    try:
        start = time.perf_counter()
        kinds = [k for k in args.kinds.split(",") if k]
        kinds = [k for k in kinds if any(q["kind"] == k for q in world.queries)]
        results = run(world, rt, kinds, rows)
        query_s = time.perf_counter() - start
        print(f"[{spec}] queries asked in {query_s:.1f} s", file=sys.stderr)
    finally:
        rt.close()
    return {"spec": spec, "world": world.name, "database": db_uri.rsplit("/", 1)[-1],
            "redis": redis_uri, "describe": describe(world), "build_seconds": round(build_s, 1),
            "load_seconds": round(load_s, 1), "loaded": bool(log), "load_log": log,
            "query_seconds": round(query_s, 1), "results": results,
            "row_fields": ROW_FIELDS, "rows": rows}


def world_line(out: dict[str, Any]) -> str:
    d = out["describe"]
    w, c = d["wifi_observed"], d["cells_observed"]
    load = (f"loaded through the pipeline in {out['load_seconds']:.0f} s" if out["loaded"]
            else "already loaded")
    return (f"{out['spec']}: {d['name']}, {d['cities']} cities, {d['wifi_networks']} WiFi "
            f"networks ({w['observations_per_network']} observations each, median "
            f"{w['median_of_observed']} of those seen, {w['never']:.0%} never seen, "
            f"{w['at_least_6']:.0%} six times or more), {d['cells']} cells "
            f"({c['observations_per_network']} each); {sum(d['reports'].values())} reports, "
            f"{load}; queries {out['query_seconds']:.0f} s")


def inside_matrix(outs: list[dict[str, Any]]) -> str:
    """Inside the circle at 95 / 90 / 68 %, query sets down, worlds across."""
    kinds = [k for k in KIND_ORDER if any(k in o["results"] for o in outs)]
    head = f"{'query set':<12} {'method':<9} " + " ".join(f"{o['spec'][:17]:>17}" for o in outs)
    lines = ["inside the circle at confidence 95 / 90 / 68 (hits; each world)", head,
             "-" * len(head)]
    for kind in kinds:
        for method in ("ours", "baseline"):
            cells = []
            for o in outs:
                r = (o["results"].get(kind) or {}).get(method)
                if not r or r.get("inside") is None:
                    cells.append(f"{'-':>17}")
                    continue
                values = [r.get("inside"), *(r.get(f"inside_{level}") for level in LEVELS)]
                text = " ".join("-" if v is None else f"{100 * v:.0f}" for v in values)
                cells.append(f"{text:>17}")
            lines.append(f"{kind:<12} {method:<9} " + " ".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worlds", default="ours",
                        help="comma separated presets of bench/world.py "
                             f"({', '.join(world_mod.PRESETS)}), each may change knobs: "
                             "name:knob=value:knob=value (default: ours)")
    parser.add_argument("--seed", type=int, help="default: the presets' (7)")
    parser.add_argument("--reload", action="store_true", help="rebuild the worlds' databases")
    parser.add_argument("--kinds", default=",".join(KIND_ORDER),
                        help="query sets to run, comma separated")
    parser.add_argument("--json", type=Path, help="also write everything to this file")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    # commas inside parentheses belong to a knob's value: sparse:core_sd=(500.0,900.0)
    specs = [w for w in re.split(r",(?![^()]*\))", args.worlds) if w]
    for spec in specs:
        world_mod.preset(spec)  # unknown names fail now, not after a load

    start = time.perf_counter()
    if len(specs) == 1:
        outs = [run_world(specs[0], args)]
    else:  # each world in a process of its own: its settings, database binding and caches
        import subprocess
        import tempfile

        outs = []
        for spec in specs:
            with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
                command = [sys.executable, __file__, "--one", "--worlds", spec, "--kinds",
                           args.kinds, "--json", tmp.name]
                command += ["--reload"] if args.reload else []
                command += ["--seed", str(args.seed)] if args.seed is not None else []
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
                outs.append(json.loads(Path(tmp.name).read_text())["worlds"][0])
    total_s = time.perf_counter() - start
    if args.one:
        assert args.json
        args.json.write_text(json.dumps({"worlds": outs}))
        return 0
    for n, out in enumerate(outs):
        if n:
            print()
        print(world_line(out))
        print(table(out["results"], out["spec"] if len(outs) > 1 else None))
    if len(outs) > 1:
        print()
        print(inside_matrix(outs))
    for out in outs:
        print()
        print(f"{out['spec']}: " + confidence_table(out["results"]))
    print(f"\n{len(outs)} world(s) in {total_s:.0f} s", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps({
            "command": "python bench/accuracy.py " + " ".join(argv if argv is not None
                                                              else sys.argv[1:]),
            "levels": [95, *LEVELS], "seconds": round(total_s, 1), "worlds": outs}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
