"""The container image and compose.yaml, for real, with podman (make test-deploy).

No container registry is needed: the bases are built from Debian's packages
with mmdebstrap (python3 for the image, mariadb-server and redis-server for
stand-ins of the public mariadb and redis images, deploy/container/), cached as
tar files and in a podman store of their own under ICHNAEA_DEPLOY_CACHE
(/var/tmp/ichnaea-deploy; delete it to start afresh). The image is built from
the host's `make dist` output (WHEELS=dist), the stack started with
podman-compose from compose.yaml as it is, on its own bridge network, with
only the web port published, on a free loopback port. Settings come from the
environment, as an operator would give them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = os.environ.get("ICHNAEA_TEST_DEPLOY", "") in ("1", "true", "yes")
CACHE = Path(os.environ.get("ICHNAEA_DEPLOY_CACHE", "/var/tmp/ichnaea-deploy"))
CONTAINERS_CONF = ROOT / "deploy" / "container" / "containers.conf"
SUITE = "bookworm"
#: image name -> the Debian packages of its mmdebstrap base
BASES = {
    "python": ["python3", "python3-venv"],
    "mariadb": ["mariadb-server"],
    "redis": ["redis-server"],
}
APP_IMAGE = "localhost/ichnaea:test-deploy"
MARIADB_IMAGE = "localhost/ichnaea-deploy-mariadb:test"
REDIS_IMAGE = "localhost/ichnaea-deploy-redis:test"

#: what took how long, printed at the end of the run
TIMINGS: dict[str, float] = {}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TIMINGS:
        terminalreporter.section("deploy timings")
        for what, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{what:<40} {seconds:7.1f} s")


@contextlib.contextmanager
def timed(what: str) -> Iterator[None]:
    start = time.monotonic()
    yield
    TIMINGS[what] = TIMINGS.get(what, 0.0) + time.monotonic() - start


def free_port() -> int:
    """A free loopback port below the kernel's range of ephemeral ports."""
    import random

    while True:
        port = random.randrange(15000, 22000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


class Podman:
    """podman and podman-compose on the test's own store and settings."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        cache.mkdir(parents=True, exist_ok=True)
        storage = cache / "storage.conf"
        digest = hashlib.sha1(str(cache.resolve()).encode()).hexdigest()[:10]
        storage.write_text(
            "[storage]\n"
            'driver = "overlay"\n'
            f'graphroot = "{cache / "storage"}"\n'
            f'runroot = "/run/ichnaea-deploy-{digest}"\n')
        self.env = dict(os.environ, CONTAINERS_CONF=str(CONTAINERS_CONF),
                        CONTAINERS_STORAGE_CONF=str(storage))

    def run(self, *args: str, timeout: float = 300, check: bool = True,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["podman", *args], env=env or self.env, capture_output=True,
                              text=True, timeout=timeout, cwd=ROOT)
        if check and done.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} exited {done.returncode}:\n"
                                 f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        return done

    def image_exists(self, name: str) -> bool:
        return self.run("image", "exists", name, check=False).returncode == 0

    def image_id(self, name: str) -> str | None:
        done = self.run("image", "inspect", "--format", "{{.Id}}", name, check=False)
        return done.stdout.strip() if done.returncode == 0 else None

    def build(self, tag: str, *args: str) -> None:
        """``podman build`` (docker format: HEALTHCHECK kept); the image it
        replaces and the stages' images are removed (the store is the test's
        own), so that runs do not pile up images."""
        old = self.image_id(tag)
        self.run("build", "--format", "docker", "-q", "-t", tag, *args, timeout=900)
        if old and old != self.image_id(tag):
            self.run("rmi", old, check=False)
        self.run("image", "prune", "-f", check=False)


def usable_podman() -> str | None:
    """Why podman cannot be used here, or None."""
    missing = [tool for tool in ("podman", "podman-compose", "mmdebstrap", "runc")
               if shutil.which(tool) is None]
    if missing:
        return (f"{', '.join(missing)} not installed (Debian: apt-get install podman "
                "podman-compose runc mmdebstrap)")
    return None


def base_tars(pod: Podman) -> None:
    """The mmdebstrap bases missing from the cache, built side by side (each
    takes about a minute, mostly downloads)."""
    from concurrent.futures import ThreadPoolExecutor

    def build(name: str) -> str | None:
        tar = pod.cache / f"{name}-{SUITE}.tar"
        part = tar.with_suffix(".part.tar")
        done = subprocess.run(
            ["mmdebstrap", "--variant=minbase", "--include=" + ",".join(BASES[name]),
             SUITE, str(part)], capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            part.unlink(missing_ok=True)
            return f"mmdebstrap {name} failed:\n{done.stderr[-3000:]}"
        part.rename(tar)
        return None

    missing = [name for name in BASES if not (pod.cache / f"{name}-{SUITE}.tar").exists()
               and not pod.image_exists(f"localhost/ichnaea-deploy-{name}-base:{SUITE}")]
    if not missing:
        return
    with timed(f"mmdebstrap {', '.join(missing)} (cached after)"), \
            ThreadPoolExecutor(len(missing)) as pool:
        errors = [error for error in pool.map(build, missing) if error]
    if errors:
        pytest.fail("\n".join(errors))


def base_image(pod: Podman, name: str) -> str:
    """The mmdebstrap base ``name`` as an image, imported when missing."""
    image = f"localhost/ichnaea-deploy-{name}-base:{SUITE}"
    if pod.image_exists(image):
        return image
    base_tars(pod)
    with timed(f"podman import {name} base (cached after)"):
        pod.run("import", "-q", str(pod.cache / f"{name}-{SUITE}.tar"), image, timeout=600)
    return image


@pytest.fixture(scope="session")
def podman() -> Podman:
    if not DEPLOY:
        pytest.skip("set ICHNAEA_TEST_DEPLOY=1 (make test-deploy)")
    why = usable_podman()
    if why:
        pytest.skip(f"podman cannot run here: {why}")
    pod = Podman(CACHE)
    python = base_image(pod, "python")
    probe = pod.run("run", "--rm", "--network", "none", python, "true", check=False,
                    timeout=120)
    if probe.returncode != 0:
        pytest.skip(f"podman cannot run containers here: {probe.stderr.strip()[-500:]}")
    return pod


@pytest.fixture(scope="session")
def images(podman: Podman) -> dict[str, str]:
    """The service's image from dist/ and the stand-ins of mariadb:11 and redis:7."""
    wheels = sorted((ROOT / "dist").glob("ichnaea-*.whl"))
    if not wheels or not (ROOT / "dist" / "wheelhouse").is_dir():
        pytest.fail("dist/ holds no ichnaea wheel or no wheelhouse/: run make dist")
    python = base_image(podman, "python")
    mariadb = base_image(podman, "mariadb")
    redis = base_image(podman, "redis")
    folder = str(ROOT / "deploy" / "container")
    recipe = str(ROOT / "deploy" / "container" / "test-images.Containerfile")
    with timed("build mariadb and redis stand-ins"):
        podman.build(MARIADB_IMAGE, "--build-arg", f"BASE={mariadb}", "--target", "mariadb",
                     "-f", recipe, folder)
        podman.build(REDIS_IMAGE, "--build-arg", f"BASE={redis}", "--target", "redis",
                     "-f", recipe, folder)
    with timed("build the ichnaea image (WHEELS=dist)"):
        podman.build(APP_IMAGE, "--build-arg", "WHEELS=dist",
                     "--build-arg", f"PYTHON_IMAGE={python}", "-f", "Containerfile", str(ROOT))
    return {"ichnaea": APP_IMAGE, "mariadb": MARIADB_IMAGE, "redis": REDIS_IMAGE}


class Stack:
    """compose.yaml under a project name of its own, configured by environment."""

    def __init__(self, podman: Podman, images: dict[str, str]) -> None:
        self.podman = podman
        self.project = f"ichnaeatest{secrets.token_hex(3)}"
        self.port = free_port()
        self.db_password = secrets.token_hex(8)
        # the host's own settings stay out of the stack
        prefixes = ("DB_", "REDIS_", "GEOIP_", "ICHNAEA_", "STATSD_", "SENTRY_", "ASSET_",
                    "MAPBOX_", "SECRET_", "LOGGING_", "MARIADB_")
        self.env = dict(
            {k: v for k, v in podman.env.items() if not k.startswith(prefixes)},
            ICHNAEA_IMAGE=images["ichnaea"],
            MARIADB_IMAGE=images["mariadb"],
            REDIS_IMAGE=images["redis"],
            ICHNAEA_PUBLISH=f"127.0.0.1:{self.port}",
            SECRET_KEY=secrets.token_hex(16),
            MARIADB_PASSWORD=self.db_password,
            DB_READWRITE_URI=f"mysql+pymysql://ichnaea:{self.db_password}@mariadb:3306/ichnaea",
            LOGGING_LEVEL="INFO",
            ICHNAEA_STRICT_PLUGINS="true",
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def container(self, service: str) -> str:
        return f"{self.project}_{service}_1"

    def compose(self, *args: str, timeout: float = 300,
                check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["podman-compose", "-p", self.project, "-f", "compose.yaml", *args],
                              env=self.env, capture_output=True, text=True, timeout=timeout,
                              cwd=ROOT)
        if check and done.returncode != 0:
            raise AssertionError(f"podman-compose {' '.join(args)} exited {done.returncode}:\n"
                                 f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done

    def exec(self, service: str, *args: str, check: bool = True) -> str:
        done = self.podman.run("exec", self.container(service), *args, check=check,
                               timeout=120)
        return done.stdout

    def healthy(self, service: str) -> bool:
        return self.podman.run("healthcheck", "run", self.container(service), check=False,
                               timeout=60).returncode == 0

    def wait_healthy(self, service: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.healthy(service):
                return
            time.sleep(1)
        raise AssertionError(f"{service} not healthy after {timeout} s\n{self.logs()}")

    def wait_exited(self, service: str, timeout: float = 180) -> int:
        done = self.podman.run("wait", self.container(service), timeout=timeout)
        return int(done.stdout.strip().splitlines()[-1])

    def state(self, service: str) -> dict[str, Any]:
        out = self.podman.run("inspect", "--format", "{{json .State}}",
                              self.container(service)).stdout
        return json.loads(out)

    def up(self) -> None:
        """The order podman-compose 1.0 needs (it ignores depends_on's
        conditions): the databases, then the migrations, then the rest."""
        self.compose("up", "-d", "mariadb", "redis")
        self.wait_healthy("mariadb")
        self.wait_healthy("redis")
        self.compose("up", "-d")
        code = self.wait_exited("upgrade")
        assert code == 0, f"ichnaea db upgrade exited {code}:\n{self.logs()}"
        self.wait_healthy("web")

    def logs(self) -> str:
        out = []
        for service in ("mariadb", "redis", "upgrade", "web", "worker", "scheduler"):
            done = self.podman.run("logs", "--tail", "25", self.container(service), check=False)
            lines = [line for line in (done.stdout + done.stderr).splitlines()
                     if '"event": "request"' not in line]
            out.append(f"--- {service}\n" + "\n".join(lines[-25:]))
        return "\n".join(out)

    def down(self) -> None:
        self.compose("down", "-v", check=False)
        self.podman.run("network", "rm", "-f", f"{self.project}_default", check=False)
        # what down -v leaves: volumes of the project, anonymous or named
        vols = self.podman.run("volume", "ls", "-q", "--filter",
                               f"label=io.podman.compose.project={self.project}",
                               check=False).stdout.split()
        if vols:
            self.podman.run("volume", "rm", "-f", *vols, check=False)


@pytest.fixture(scope="session")
def stack(podman: Podman, images: dict[str, str]) -> Iterator[Stack]:
    st = Stack(podman, images)
    try:
        with timed("compose up (databases, upgrade, web healthy)"):
            st.up()
        yield st
    except BaseException:
        print(st.logs())
        raise
    finally:
        with timed("compose down -v"):
            st.down()
