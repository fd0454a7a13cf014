"""Lazily imported numpy is safe to touch first from many threads at once:
the first station updates after a worker starts, and the writers of a cell
import, no longer fail with ``module 'numpy' has no attribute ...``.

Each round is a fresh interpreter (the race is only on the first touch), in
which threads wait at a barrier and then all call, at once, the host's
functions that use numpy: the distance matrix of a station search and the
region look-up of the geocoder."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

SCRIPT = """
import sys
import threading

from ichnaea_host.core import geocode
from ichnaea_host.stations.search import distance_matrix

THREADS = 12
barrier = threading.Barrier(THREADS)
errors = []


def touch(n):
    barrier.wait()
    try:
        if n % 3 == 0:
            assert geocode.region(51.5, -0.1) == "GB"
        else:
            matrix = distance_matrix([(51.5, -0.1), (51.5, -0.1 + n / 1000)])
            assert matrix.shape == (2, 2) and matrix[0, 1] > 0
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")


threads = [threading.Thread(target=touch, args=(n,)) for n in range(THREADS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("errors:", errors)
"""

ROUNDS = 6


def test_many_threads_first_touch_lazy_numpy_at_once(tmp_path: Any) -> None:
    env = {"ICHNAEA_VAR_DIR": str(tmp_path / "var"), "LOGGING_LEVEL": "WARNING",
           "PATH": "/usr/bin:/bin"}
    for _ in range(ROUNDS):
        done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                              text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip().splitlines()[-1] == "errors: []", done.stdout[-2000:]
