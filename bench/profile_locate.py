"""Where a WiFi locate's time goes, in-process: the WSGI app called directly
(no HTTP server), on the tables ``locate.py`` loads, under cProfile.

Usage::

    python bench/profile_locate.py [--stations 100000] [--requests 3000] [--top 25]

It prints the CPU time per request of a heartbeat, a WiFi locate and a GeoIP
locate called the same way, then cProfile's functions by their own time for
the WiFi locates, with each one's share of the total.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import locate as locate_mod  # noqa: E402
import world as world_mod  # noqa: E402


def environ_of(raw: bytes) -> dict[str, Any]:
    """The WSGI environ waitress would build of one of ``locate.py``'s requests."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    method, target, _ = lines[0].split(" ")
    path, _, query = target.partition("?")
    env: dict[str, Any] = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
        "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False,
        "wsgi.version": (1, 0), "_body": body,
    }
    for line in lines[1:]:
        name, _, value = line.partition(": ")
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            env[key] = value
        else:
            env[f"HTTP_{key}"] = value
    return env


def call(app: Any, env: dict[str, Any]) -> int:
    environ = dict(env)
    environ["wsgi.input"] = io.BytesIO(env["_body"])
    status: list[str] = []
    body = app(environ, lambda s, h, exc=None: status.append(s))
    for _ in body:
        pass
    if hasattr(body, "close"):
        body.close()
    return int(status[0][:3])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)

    db_uri = locate_mod.DB_URI.format(stations=args.stations)
    locate_mod.load(db_uri, args.stations, args.seed, lambda m: print(m, file=sys.stderr))
    world = world_mod.build(world_mod.Params())
    world_mod.write_geoip(world, world_mod.VAR_DIR / "world-geoip.mmdb")
    world_mod.configure_env(db_uri, locate_mod.REDIS_URI)
    from ichnaea_host.app import create_app
    from ichnaea_host.core.log import configure_logging

    configure_logging("WARNING")
    app = create_app()
    kinds = {
        "heartbeat": [environ_of(locate_mod.request("GET", "/__lbheartbeat__"))],
        "wifi": [environ_of(r) for r in locate_mod.wifi_requests(args.stations, args.seed,
                                                                   args.requests)],
        "geoip": [environ_of(r) for r in locate_mod.geoip_requests(args.requests)],
    }
    for envs in kinds.values():  # warm caches and connections
        for env in envs[:100]:
            call(app, env)
    for name, envs in kinds.items():
        start = time.process_time()
        for i in range(args.requests):
            assert call(app, envs[i % len(envs)]) == 200
        ms = 1000 * (time.process_time() - start) / args.requests
        print(f"{name}: {ms:.3f} ms CPU per request")
    profile = cProfile.Profile()
    envs = kinds["wifi"]
    profile.enable()
    for i in range(args.requests):
        call(app, envs[i % len(envs)])
    profile.disable()
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(args.top)
    print(out.getvalue())
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("cumulative").print_stats(40)
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
