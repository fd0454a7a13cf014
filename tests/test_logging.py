"""The service's log lines: structured, and quiet while Redis is down.

Each case runs in a process of its own, configured as the ``ichnaea``
command configures it, and reads what that process wrote to stderr."""

from __future__ import annotations

import json
import subprocess
import sys

HUEY_ERRORS = """
import logging, sys
import redis
from ichnaea_host.core.log import configure_logging

configure_logging("INFO")
error = {error}
for _ in range({times}):  # huey's consumer, once a second while Redis is down
    try:
        raise error
    except Exception:
        logging.getLogger("huey.consumer").exception("Error reading from queue")
"""


def stderr_of(error: str, times: int) -> str:
    done = subprocess.run([sys.executable, "-c", HUEY_ERRORS.format(error=error, times=times)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_redis_outage_is_one_structured_line_a_minute():
    err = stderr_of('redis.ConnectionError("Connection closed by server.")', 5)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert line["event"] == "redis_unreachable" and line["level"] == "warning"
    assert line["during"] == "Error reading from queue"
    assert line["error"] == "ConnectionError: Connection closed by server."


def test_other_errors_keep_their_traceback():
    err = stderr_of('ValueError("a bug of a task")', 2)
    assert err.count("Traceback") == 2 and "ValueError: a bug of a task" in err
