"""The release, as an operator installs it (make test-dist): the wheels in
dist/ and the third-party wheels in dist/wheelhouse/, installed with no index
into a fresh virtualenv outside the checkout, run the whole service: the web
site with its browser libraries, and the API."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "dist"
ENABLED = os.environ.get("ICHNAEA_TEST_DIST", "") in ("1", "true", "yes")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not ENABLED, reason="installs the wheels of dist/ into a fresh "
                       "virtualenv: make test-dist builds dist/ and runs it (ICHNAEA_TEST_DIST=1)"),
]


def distributions() -> list[str]:
    """The distribution names of the wheels in dist/: ichnaea, ichnaea-wifi, ..."""
    return sorted(w.name.split("-")[0].replace("_", "-") for w in DIST.glob("*.whl"))


def outside_env(**extra: str) -> dict[str, str]:
    """The environment without this checkout's settings: no pip configuration
    (no index, no extra links), no Python path, no service settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV", "DB_", "REDIS_", "ICHNAEA_",
                                "GEOIP_"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)
    return env


def readme_install() -> str:
    """The README's install commands: the second ``sh`` block of "## Install"."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Install\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)[1]


def test_the_readme_installs_every_distribution():
    """The README's install line names the host and every plugin built."""
    named = set(re.findall(r"\bichnaea(?:-[a-z0-9-]+)?\b(?![./])", readme_install()))
    assert set(distributions()) <= named, sorted(set(distributions()) - named)


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh virtualenv with the host and every plugin installed from dist/
    only, by the README's install commands (its /opt/ichnaea a temp folder)."""
    if not distributions() or not (DIST / "wheelhouse").is_dir():
        pytest.fail("dist/ holds no wheels or no wheelhouse/: run make dist")
    target = tmp_path_factory.mktemp("release") / "venv"
    script = readme_install().replace("/opt/ichnaea", str(target))
    # python3 as the checkout's own, and pip quiet
    script = script.replace("python3 -m venv", f"{sys.executable} -m venv")
    script = script.replace("/bin/pip install", "/bin/pip install -q --only-binary :all:")
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=outside_env(),
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return target


def ichnaea(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([venv / "bin" / "ichnaea", *args], env=outside_env(
        ICHNAEA_VAR_DIR=str(cwd / "var")), cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_installed_release_knows_its_version_and_plugins(venv, tmp_path):
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    done = ichnaea(venv, "--version", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, f"ichnaea, version {version}\n")

    done = ichnaea(venv, "plugins", "list", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for name in distributions():
        if name != "ichnaea":
            assert re.search(rf"\({name} {version}\): enabled", done.stdout), done.stdout

    # the code runs from the virtualenv, not from this checkout
    where = subprocess.run([venv / "bin" / "python", "-c",
                            "import ichnaea_host; print(ichnaea_host.__file__)"],
                           env=outside_env(), cwd=tmp_path, capture_output=True, text=True)
    assert Path(where.stdout.strip()).is_relative_to(venv)


class Assets(HTMLParser):
    """The local files a page loads: scripts, style sheets, icons and images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs).get({"script": "src", "link": "href", "img": "src"}.get(tag, ""))
        if found and found.startswith("/static/"):
            self.urls.append(found)


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_installed_release_serves_the_site_and_the_api(venv, tmp_path):
    port = free_port()
    log = tmp_path / "run.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen([venv / "bin" / "ichnaea", "run"], cwd=tmp_path, text=True,
                                env=outside_env(ICHNAEA_PORT=str(port),
                                                ICHNAEA_VAR_DIR=str(tmp_path / "var")),
                                stdout=subprocess.PIPE, stderr=stderr)
    try:
        key = None
        deadline = time.monotonic() + 90
        while key is None and time.monotonic() < deadline and proc.poll() is None:
            found = re.search(r"demo API key: (\S+)", proc.stdout.readline())
            key = found.group(1) if found else None
        assert key, f"ichnaea run printed no demo key:\n{log.read_text()[-3000:]}"
        base = f"http://127.0.0.1:{port}"

        # the pages load their scripts and styles, the map its library
        for page in ("/map", "/stats"):
            status, html = get(base + page)
            assert status == 200
            assert b"make assets" not in html
            parser = Assets()
            parser.feed(html.decode())
            if page == "/map":
                assert {"/static/vendor/leaflet/leaflet.js",
                        "/static/vendor/leaflet/leaflet.css"} <= set(parser.urls)
            for url in parser.urls:
                status, body = get(base + url)
                assert status == 200 and body, url
        status, body = get(base + "/static/vendor/leaflet/images/marker-icon.png")
        assert (status, body[:4]) == (200, b"\x89PNG")  # a nested vendored file

        # the README's example: two WiFi networks submitted at a position locate there
        wifi = [{"macAddress": "01:23:45:67:89:ab", "signalStrength": -60},
                {"macAddress": "01:23:45:67:89:cd", "signalStrength": -70}]
        report = {"position": {"latitude": 51.5, "longitude": -0.1, "accuracy": 10},
                  "wifiAccessPoints": wifi}
        assert post(f"{base}/v2/geosubmit?key={key}", {"items": [report]}) == (200, {})
        answer: tuple[int, dict] = (404, {})
        deadline = time.monotonic() + 30
        while answer[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.3)
            answer = post(f"{base}/v1/geolocate?key={key}", {"wifiAccessPoints": wifi})
        assert answer[0] == 200, f"not located: {answer}\n{log.read_text()[-3000:]}"
        assert answer[1]["location"] == {"lat": 51.5, "lng": -0.1}
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
    assert code == 0, log.read_text()[-3000:]
