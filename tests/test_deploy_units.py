"""The deployment files: the systemd units of ``deploy/systemd`` and the
reverse proxy examples of ``deploy/proxy``.

- every unit passes ``systemd-analyze verify`` (on a copy whose ExecStart
  names this checkout's ``ichnaea`` and whose User= exists here; no systemd
  as PID 1 needed) and keeps ``systemd-analyze security`` at "OK";
- every variable of ``ichnaea.env.example`` is one the service reads, and
  its values pass the service's own checks;
- the units' ExecStart command lines run as written (only the binary's path
  replaced) with the example environment file's variables, pointed at a temp
  SQLite and an embedded Redis, under the units' NoNewPrivileges= and
  MemoryDenyWriteExecute= (the kernel's ``PR_SET_MDWE``): each process starts
  and stops cleanly on SIGTERM, the way systemd stops it (KillMode=);
- nginx and Caddy run the proxy examples on loopback in front of a stub
  backend: TLS, X-Forwarded-For replaced, only public paths, body limits,
  the per-address connection limit (skipped when the tool is missing).
"""

from __future__ import annotations

import contextlib
import ctypes
import getpass
import grp
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SYSTEMD = ROOT / "deploy" / "systemd"
PROXY = ROOT / "deploy" / "proxy"
ENV_EXAMPLE = SYSTEMD / "ichnaea.env.example"
ICHNAEA_BIN = Path(sys.executable).parent / "ichnaea"  # .venv/bin/ichnaea, as installed

UNIT_BIN = "/opt/ichnaea/bin/ichnaea"
UNIT_ENV_FILE = "/etc/ichnaea/ichnaea.env"
SERVICES = ["ichnaea-upgrade.service", "ichnaea-web.service", "ichnaea-scheduler.service",
            "ichnaea-worker@.service"]
UNITS = [*SERVICES, "ichnaea.target"]

PR_SET_NO_NEW_PRIVS = 38
PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1

SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or ""


# ---------------------------------------------------------------------------
# unit and environment files


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """Sections of a unit file: key -> every value given (in order)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not key=value: {raw!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def parse_env_file(path: Path) -> dict[str, str]:
    """An EnvironmentFile= as systemd reads it (comments, quotes)."""
    env: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not VAR=value: {raw!r}"
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def commented_env_names(path: Path) -> set[str]:
    """Variables shown but commented out (``#VAR=value``)."""
    return {m.group(1) for m in re.finditer(r"^#\s?([A-Z][A-Z0-9_]*)=", path.read_text(), re.M)}


def test_unit_files_name_the_installed_paths() -> None:
    """The substitutions the tests below make are the only differences from
    what an operator installs."""
    for name in SERVICES:
        service = parse_unit(SYSTEMD / name)["Service"]
        assert service["EnvironmentFile"] == [UNIT_ENV_FILE], name
        assert service["User"] == ["ichnaea"] and service["Group"] == ["ichnaea"], name
        assert service["StateDirectory"] == ["ichnaea"], name
        assert service["WorkingDirectory"] == ["/var/lib/ichnaea"], name
        for line in service["ExecStart"]:
            assert shlex.split(line)[0] == UNIT_BIN, (name, line)
        for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices",
                    "ProtectKernelTunables", "ProtectKernelModules", "ProtectControlGroups",
                    "RestrictNamespaces", "LockPersonality", "MemoryDenyWriteExecute"):
            assert service[key] == ["yes"], (name, key)
        assert service["ProtectSystem"] == ["strict"], name
        assert service["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX"], name
        assert service["SystemCallArchitectures"] == ["native"], name
        if name != "ichnaea-upgrade.service":
            assert service["Restart"] == ["on-failure"], name
            assert "ichnaea-upgrade.service" in parse_unit(SYSTEMD / name)["Unit"]["After"][0]
    assert parse_unit(SYSTEMD / "ichnaea-upgrade.service")["Service"]["Type"] == ["oneshot"]
    assert (parse_unit(SYSTEMD / "ichnaea-scheduler.service")["Service"]["ExecStart"]
            == [f"{UNIT_BIN} worker --scheduler"])


def test_readme_names_these_units() -> None:
    """The README's systemd commands name the files of deploy/systemd."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Run with systemd", 1)[1].split("\n### ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "no sh block in the README's 'Run with systemd'"
    lines = block.group(1).splitlines()
    copied = next(line for line in lines if line.startswith("cp deploy/systemd/"))
    patterns = [word.removeprefix("deploy/systemd/") for word in shlex.split(copied)[1:-1]]
    assert {f.name for pattern in patterns for f in SYSTEMD.glob(pattern)} == set(UNITS)
    enable = next(line for line in lines if "systemctl enable" in line)
    for name in shlex.split(enable)[3:]:
        unit = re.sub(r"@\w+$", "@", name) + ("" if "." in name else ".service")
        assert (SYSTEMD / unit).exists(), name
    assert any("ichnaea.env.example /etc/ichnaea/ichnaea.env" in line for line in lines)


def local_unit_copies(dest: Path) -> dict[str, Path]:
    """The units, with this checkout's ``ichnaea``, a user and group that
    exist here and the example environment file."""
    dest.mkdir(parents=True, exist_ok=True)
    env_file = dest / "ichnaea.env"
    shutil.copy(ENV_EXAMPLE, env_file)
    user = getpass.getuser()
    group = grp.getgrgid(os.getgid()).gr_name
    copies = {}
    for name in UNITS:
        text = (SYSTEMD / name).read_text()
        text = text.replace(UNIT_BIN, str(ICHNAEA_BIN)).replace(UNIT_ENV_FILE, str(env_file))
        text = re.sub(r"^User=ichnaea$", f"User={user}", text, flags=re.M)
        text = re.sub(r"^Group=ichnaea$", f"Group={group}", text, flags=re.M)
        (dest / name).write_text(text)
        copies[name] = dest / name
    return copies


@pytest.mark.parametrize("name", UNITS)
def test_systemd_analyze_verify(name: str, tmp_path: Path) -> None:
    assert SYSTEMD_ANALYZE, "systemd-analyze is missing (Debian: systemd)"
    assert ICHNAEA_BIN.exists(), f"{ICHNAEA_BIN} is missing (make install)"
    unit = local_unit_copies(tmp_path / "units")[name]
    # no systemd as PID 1 needed: no generators, no man pages
    proc = subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", "--generators=no", str(unit)],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "SYSTEMD_LOG_LEVEL": "notice"})
    assert proc.returncode == 0, proc.stderr
    ours = [line for line in proc.stderr.splitlines()
            if "ichnaea" in line or str(tmp_path) in line]
    assert not ours, proc.stderr


@pytest.mark.parametrize("name", SERVICES)
def test_systemd_analyze_security(name: str, tmp_path: Path) -> None:
    """The hardening keeps the exposure level "OK" (1.2 now; 2.5 or less of 10)."""
    assert SYSTEMD_ANALYZE, "systemd-analyze is missing (Debian: systemd)"
    unit = local_unit_copies(tmp_path / "units")[name]
    text = unit.read_text()  # the user the operator creates, not this one
    text = re.sub(r"^User=.*$", "User=ichnaea", text, flags=re.M)
    text = re.sub(r"^Group=.*$", "Group=ichnaea", text, flags=re.M)
    unit.write_text(text)
    proc = subprocess.run([SYSTEMD_ANALYZE, "security", "--offline=yes", "--threshold=25",
                           "--no-pager", str(unit)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr


# ---------------------------------------------------------------------------
# the environment file


def known_variables(tmp_path: Path) -> set[str]:
    env = clean_env({"ICHNAEA_VAR_DIR": str(tmp_path / "var")})
    names: set[str] = set()
    settings = subprocess.run([str(ICHNAEA_BIN), "settings", "--json"], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120, check=True)
    names |= {s["env"] for s in json.loads(settings.stdout)}
    plugins = subprocess.run([str(ICHNAEA_BIN), "plugins", "list", "--json"], env=env,
                             cwd=tmp_path, capture_output=True, text=True, timeout=120,
                             check=True)
    names |= {s["env"] for p in json.loads(plugins.stdout) for s in p["settings"]}
    return names


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DB_", "REDIS_", "ICHNAEA_", "GEOIP_", "SECRET_KEY",
                                "LOGGING_", "STATSD_", "SENTRY_"))}
    env.update(extra)
    return env


def test_env_example_holds_only_known_variables(tmp_path: Path) -> None:
    example = parse_env_file(ENV_EXAMPLE)
    names = set(example) | commented_env_names(ENV_EXAMPLE)
    unknown = names - known_variables(tmp_path)
    assert not unknown, f"ichnaea.env.example names variables the service does not read: {unknown}"
    # the values themselves pass the service's checks
    proc = subprocess.run([str(ICHNAEA_BIN), "settings"], env=clean_env(example), cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for server in ("DB_READWRITE_URI", "REDIS_URI", "SECRET_KEY", "ICHNAEA_VAR_DIR"):
        assert example.get(server), f"the example sets {server}"


# ---------------------------------------------------------------------------
# the units' command lines, run


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _mdwe_supported() -> bool:
    probe = ("import ctypes, sys; "
             f"sys.exit(0 if ctypes.CDLL(None).prctl({PR_SET_MDWE}, "
             f"{PR_MDWE_REFUSE_EXEC_GAIN}, 0, 0, 0) == 0 else 1)")
    return subprocess.run([sys.executable, "-c", probe], timeout=30).returncode == 0


class UnitProcess:
    """One unit's ExecStart, started the way systemd starts it (its own
    session, NoNewPrivileges=, MemoryDenyWriteExecute=) and stopped the way
    systemd stops it (SIGTERM per KillMode=, TimeoutStopSec=)."""

    def __init__(self, name: str, instance: str, env: dict[str, str], cwd: Path,
                 mdwe: bool) -> None:
        unit = parse_unit(SYSTEMD / name)
        service = unit["Service"]
        self.name = name.replace("@.", f"@{instance}.")
        self.kill_mode = service.get("KillMode", ["control-group"])[-1]
        self.stop_timeout = min(parse_seconds(service.get("TimeoutStopSec", ["90s"])[-1]), 60.0)
        env = dict(env)
        for assignment in service.get("Environment", []):
            for item in shlex.split(assignment):
                key, _, value = item.partition("=")
                env[key] = value
        (line,) = service["ExecStart"]
        line = line.replace("%i", instance).replace("%%", "%")
        line = re.sub(r"\$\{(\w+)\}", lambda m: env.get(m.group(1), ""), line)
        argv = shlex.split(line)
        assert argv[0] == UNIT_BIN
        self.argv = [str(ICHNAEA_BIN), *argv[1:]]
        nnp = service.get("NoNewPrivileges") == ["yes"]
        mdwe = mdwe and service.get("MemoryDenyWriteExecute") == ["yes"]
        self.out = (cwd / f"{self.name}.out").open("w+")
        self.err = (cwd / f"{self.name}.err").open("w+")

        def harden() -> None:
            libc = ctypes.CDLL(None, use_errno=True)
            if nnp and libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
                os._exit(90)
            if mdwe and libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
                os._exit(91)

        self.proc = subprocess.Popen(self.argv, env=env, cwd=cwd, stdout=self.out,
                                     stderr=self.err, stdin=subprocess.DEVNULL,
                                     start_new_session=True, preexec_fn=harden)

    def output(self) -> str:
        self.out.flush()
        return Path(self.out.name).read_text() + Path(self.err.name).read_text()

    def wait_for(self, text: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in Path(self.out.name).read_text():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"{self.name}: no {text!r}; exit {self.proc.poll()}\n{self.output()}")

    def terminate(self) -> None:
        """SIGTERM, once, as systemd sends it: to the main process only
        (KillMode=mixed) or to every process of the unit (control-group)."""
        if self.kill_mode == "mixed":
            self.proc.send_signal(signal.SIGTERM)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)

    def wait_stopped(self) -> int:
        """The exit status, within TimeoutStopSec=."""
        try:
            return self.proc.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.name}: still running {self.stop_timeout} s after "
                                 f"SIGTERM\n{self.output()}") from None

    def leftovers(self) -> bool:
        """Whether processes of the unit outlive its main process (systemd
        would SIGKILL them)."""
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)


def parse_seconds(value: str) -> float:
    total = 0.0
    units = {"min": 60.0, "ms": 0.001, "s": 1.0, "h": 3600.0, "": 1.0}
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*(min|ms|s|h|)", value):
        total += float(number) * units[unit]
    return total


def http_status(url: str, timeout: float = 10.0) -> int | None:
    host, _, rest = url.removeprefix("http://").partition("/")
    name, _, port = host.partition(":")
    conn = http.client.HTTPConnection(name, int(port), timeout=timeout)
    try:
        conn.request("GET", "/" + rest)
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


@pytest.mark.slow
def test_units_run_as_written(tmp_path: Path) -> None:
    """Upgrade, then web, scheduler and two workers from their ExecStart
    lines: each starts, the web answers, and each stops cleanly on SIGTERM."""
    port = free_port()
    env = clean_env(parse_env_file(ENV_EXAMPLE))
    # the example's servers, replaced by a temp SQLite and the embedded Redis
    for server in ("DB_READONLY_URI", "REDIS_URI", "REDIS_CLUSTER_NODES", "GEOIP_PATH"):
        env.pop(server, None)
    var = tmp_path / "var"
    env.update({"DB_READWRITE_URI": f"sqlite:///{tmp_path / 'ichnaea.sqlite'}",
                "ICHNAEA_VAR_DIR": str(var), "ICHNAEA_PORT": str(port),
                "ICHNAEA_HOST": "127.0.0.1"})
    mdwe = _mdwe_supported()
    started: list[UnitProcess] = []
    try:
        upgrade = UnitProcess("ichnaea-upgrade.service", "", env, tmp_path, mdwe)
        started.append(upgrade)
        assert upgrade.proc.wait(180) == 0, upgrade.output()
        assert "database is up to date" in upgrade.output()

        web = UnitProcess("ichnaea-web.service", "", env, tmp_path, mdwe)
        started.append(web)
        web.wait_for("serving on")
        deadline = time.monotonic() + 120
        while http_status(f"http://127.0.0.1:{port}/__lbheartbeat__") != 200:
            assert web.proc.poll() is None, web.output()
            assert time.monotonic() < deadline, web.output()
            time.sleep(0.3)
        workers = [UnitProcess("ichnaea-scheduler.service", "", env, tmp_path, mdwe),
                   *(UnitProcess("ichnaea-worker@.service", str(i), env, tmp_path, mdwe)
                     for i in (1, 2))]
        started.extend(workers)
        workers[0].wait_for("and the scheduler")
        for worker in workers[1:]:
            worker.wait_for("worker running")
        assert "scheduler" not in workers[1].output()
        for unit in started[1:]:  # NoNewPrivileges=yes, as under systemd
            status_lines = Path(f"/proc/{unit.proc.pid}/status").read_text()
            assert re.search(r"^NoNewPrivs:\s+1$", status_lines, re.M), unit.name
        assert http_status(f"http://127.0.0.1:{port}/v1/geolocate") in (400, 403, 404)

        # `systemctl stop ichnaea.target`: every unit at once
        for unit in reversed(started[1:]):
            unit.terminate()
        for unit in started[1:]:
            status = unit.wait_stopped()
            assert status == 0, f"{unit.name} exited {status}\n{unit.output()}"
            assert "Traceback" not in unit.output(), unit.output()
        time.sleep(0.5)
        left = [unit.name for unit in started if unit.leftovers()]
        assert not left, f"processes outlive their unit's main process: {left}"
    finally:
        for unit in started:
            unit.kill()
        # the embedded Redis, should a test failure have left it running
        for pid in _pids_with(str(var)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _pids_with(text: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if text.encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
    return pids


# ---------------------------------------------------------------------------
# the reverse proxy examples


class Backend(ThreadingHTTPServer):
    """A stub service on loopback that records the requests it gets."""

    daemon_threads = True

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, str], int]] = []
        super().__init__(("127.0.0.1", 0), BackendHandler)


class BackendHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Backend

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._answer()

    def do_POST(self) -> None:  # noqa: N802
        self._answer()

    def _answer(self) -> None:
        length = self._read_body()
        if length is None:  # the proxy gave up on the body: no request
            self.close_connection = True
            return
        self.server.seen.append((self.command, self.path, dict(self.headers), length))
        if "sleep=" in self.path:
            time.sleep(float(self.path.rsplit("sleep=", 1)[1]))
        body = json.dumps({"xff": self.headers.get_all("X-Forwarded-For") or []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Stub", "1")
        self.end_headers()
        self.wfile.write(body)

    def _read_body(self) -> int | None:
        """The body's length, read whole (plain or chunked), or None when
        the connection ends before it does."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            total = 0
            while True:
                line = self.rfile.readline()
                if not line.strip():
                    return None
                size = int(line.split(b";")[0], 16)
                data = self.rfile.read(size + 2)
                if len(data) < size + 2:
                    return None
                total += size
                if size == 0:
                    return total
        remaining = length = int(self.headers.get("Content-Length") or 0)
        while remaining:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                return None
            remaining -= len(chunk)
        return length

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def backend() -> Iterator[Backend]:
    server = Backend()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def public_paths(tmp_path: Path) -> list[str]:
    """A sample path for every route of the service except /metrics."""
    code = ("import json; from ichnaea_host.app import create_app; "
            "print(json.dumps([r.rule for r in create_app().url_map.iter_rules()]))")
    env = clean_env({"ICHNAEA_VAR_DIR": str(tmp_path / "routes-var")})
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=180, check=True)
    rules = json.loads(proc.stdout.strip().splitlines()[-1])
    samples = {re.sub(r"<(?:int:)?[^>]*>", lambda m: "1" if "int:" in m.group(0) else "x", rule)
               for rule in rules}
    return sorted(path for path in samples if path != "/metrics")


class _HTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1 with a server name (SNI) of our choosing."""

    def __init__(self, port: int, server_name: str) -> None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        super().__init__("127.0.0.1", port, timeout=30, context=context)
        self.server_name = server_name
        self.tls = context

    def connect(self) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self.tls.wrap_socket(sock, server_hostname=self.server_name)


def https(port: int, method: str, path: str, headers: dict[str, str] | None = None,
          body: bytes | None = None, server_name: str = "localhost") -> tuple[int, dict, bytes]:
    conn = _HTTPSConnection(port, server_name)
    try:
        conn.request(method, path, body=body, headers={"Host": server_name, **(headers or {})})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def self_signed(dest: Path, name: str) -> tuple[Path, Path]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = dest / "cert.pem", dest / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the proxy exited"
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}")


def check_proxy(port: int, backend: Backend, paths: list[str], *,
                conn_limit: int | None, too_large: tuple[int, ...] = (413,)) -> None:
    """What both examples promise, checked on a running proxy."""
    # the client's X-Forwarded-For is replaced by its address, not appended to
    status, headers, body = https(port, "GET", "/v1/geolocate?key=k",
                                  {"X-Forwarded-For": "6.6.6.6, 7.7.7.7"})
    assert status == 200 and headers.get("X-Stub") == "1", (status, body)
    assert json.loads(body)["xff"] == ["127.0.0.1"]
    # every public path goes through; /metrics and unknown paths do not
    for path in paths:
        status, headers, _ = https(port, "GET", path)
        assert headers.get("X-Stub") == "1", f"{path} is not proxied ({status})"
    for path in ("/metrics", "/metrics/", "/nothing-here", "/v1/geolocatex", "/.env"):
        before = len(backend.seen)
        status, headers, _ = https(port, "GET", path)
        assert status == 404 and "X-Stub" not in headers, (path, status)
        assert len(backend.seen) == before, path
    # bodies: 20 MB for the API, less for the site
    status, headers, _ = https(port, "POST", "/v2/geosubmit?key=k", body=b"x" * (2 << 20),
                               headers={"Content-Type": "application/json"})
    assert status == 200 and headers.get("X-Stub") == "1"
    assert backend.seen[-1][3] == 2 << 20
    status, _, _ = https(port, "POST", "/v2/geosubmit?key=k", body=b"x" * (21 << 20))
    assert status in too_large
    status, _, _ = https(port, "POST", "/optout", body=b"x" * (2 << 20))
    assert status in too_large
    assert all(length <= 20 << 20 for _, _, _, length in backend.seen)
    assert ("POST", "/optout") not in [(method, path) for method, path, _, _ in backend.seen]
    if conn_limit is None:
        return
    # one address holding more requests open than the limit: the rest are refused
    statuses: list[int] = []

    def hold() -> None:
        with contextlib.suppress(OSError):
            statuses.append(https(port, "GET", "/v1/geolocate?sleep=1.5")[0])

    threads = [threading.Thread(target=hold) for _ in range(conn_limit + 8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert statuses.count(429) >= 1 and statuses.count(200) >= conn_limit // 2, statuses


def check_slow_clients(port: int, backend: Backend, deadline: float) -> None:
    """A client that never finishes its request head, or its body, is
    dropped after the (shortened) deadline; the service never sees it."""
    before = len(backend.seen)
    for data in (b"GET /v1/geolocate HTTP/1.1\r\nHost: localhost\r\nX-Slow: 1",
                 b"POST /v2/geosubmit HTTP/1.1\r\nHost: localhost\r\n"
                 b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"items\""):
        conn = _HTTPSConnection(port, "localhost")
        conn.connect()
        sock = conn.sock
        sock.settimeout(deadline + 10)
        started = time.monotonic()
        sock.sendall(data)
        with contextlib.suppress(OSError):
            while sock.recv(4096):
                pass
        elapsed = time.monotonic() - started
        conn.close()
        assert deadline - 0.5 < elapsed < deadline + 5, (data[:20], elapsed)
    assert len(backend.seen) == before


NGINX = shutil.which("nginx") or (
    "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else "")


@pytest.mark.skipif(not NGINX, reason="nginx is not installed (Debian: nginx-light)")
def test_nginx_example(tmp_path: Path, backend: Backend) -> None:
    site = (PROXY / "nginx-ichnaea.conf").read_text()
    cert, key = self_signed(tmp_path, "location.example.org")
    http_port, https_port = free_port(), free_port()
    site = site.replace("/etc/letsencrypt/live/location.example.org/fullchain.pem", str(cert))
    site = site.replace("/etc/letsencrypt/live/location.example.org/privkey.pem", str(key))
    site = site.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{backend.server_port};")
    site = re.sub(r"listen 80;", f"listen 127.0.0.1:{http_port};", site)
    site = re.sub(r"listen 443 ", f"listen 127.0.0.1:{https_port} ", site)
    if ipv6_loopback():
        site = site.replace("listen [::]:80;", f"listen [::1]:{http_port};")
        site = site.replace("listen [::]:443 ", f"listen [::1]:{https_port} ")
    else:
        site = re.sub(r"^\s*listen \[::\].*\n", "", site, flags=re.M)
    # the deadlines for slow clients, shortened for the test
    assert "client_header_timeout 10s;" in site and "client_body_timeout 15s;" in site
    site = site.replace("client_header_timeout 10s;", "client_header_timeout 2s;")
    site = site.replace("client_body_timeout 15s;", "client_body_timeout 2s;")
    (tmp_path / "site.conf").write_text(site)
    temp = tmp_path / "temp"
    temp.mkdir()
    user = "user root root;\n" if os.getuid() == 0 else ""
    (tmp_path / "nginx.conf").write_text(f"""{user}
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log notice;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {tmp_path}/site.conf;
}}
""")
    argv = [NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")]
    check = subprocess.run([*argv, "-t"], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    assert "[warn]" not in check.stderr and "[emerg]" not in check.stderr, check.stderr
    proc = subprocess.Popen([*argv, "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_port(https_port, proc)
        # plain HTTP only redirects to HTTPS
        conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
        conn.request("GET", "/v1/geolocate", headers={"Host": "location.example.org"})
        response = conn.getresponse()
        assert response.status == 301
        assert response.getheader("Location") == "https://location.example.org/v1/geolocate"
        conn.close()
        limit = int(re.search(r"limit_conn ichnaea_conn (\d+);", site).group(1))  # type: ignore[union-attr]
        check_proxy(https_port, backend, public_paths(tmp_path), conn_limit=limit)
        check_slow_clients(https_port, backend, 2.0)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


CADDY = shutil.which("caddy") or ""


@pytest.mark.skipif(not CADDY, reason="caddy is not installed (Debian: caddy)")
def test_caddy_example(tmp_path: Path, backend: Backend) -> None:
    caddyfile = (PROXY / "Caddyfile").read_text()
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    check = subprocess.run([CADDY, "validate", "--config", str(PROXY / "Caddyfile"),
                            "--adapter", "caddyfile"],
                           capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    warnings = [line for line in check.stderr.splitlines() if '"level":"warn"' in line]
    assert not warnings, warnings  # also: "not formatted"
    # run it on loopback ports, with a certificate of Caddy's own CA
    http_port, https_port = free_port(), free_port()
    caddyfile = caddyfile.replace("127.0.0.1:8000", f"127.0.0.1:{backend.server_port}")
    caddyfile = caddyfile.replace(
        "{\n\tservers {",
        f"{{\n\tadmin off\n\tskip_install_trust\n\tlocal_certs\n\thttp_port {http_port}\n"
        f"\thttps_port {https_port}\n\tservers {{", 1)
    assert "local_certs" in caddyfile
    caddyfile = caddyfile.replace("location.example.org {", "localhost {")
    # the deadlines for slow clients, shortened for the test
    caddyfile = caddyfile.replace("read_header 10s", "read_header 2s")
    caddyfile = caddyfile.replace("read_body 30s", "read_body 2s")
    assert "read_header 2s" in caddyfile and "read_body 2s" in caddyfile
    (tmp_path / "Caddyfile").write_text(caddyfile)
    proc = subprocess.Popen([CADDY, "run", "--config", str(tmp_path / "Caddyfile"),
                             "--adapter", "caddyfile"], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=(tmp_path / "caddy.log").open("w"),
                            start_new_session=True)
    try:
        wait_port(https_port, proc)
        deadline = time.monotonic() + 30
        while True:  # the internal certificate is issued right after start
            try:
                https(https_port, "GET", "/__lbheartbeat__")
                break
            except (ssl.SSLError, OSError):
                assert time.monotonic() < deadline, (tmp_path / "caddy.log").read_text()
                time.sleep(0.3)
        # Caddy 2.6 (Debian 12) answers an oversize body 502, later ones 413
        check_proxy(https_port, backend, public_paths(tmp_path), conn_limit=None,
                    too_large=(413, 502))
        check_slow_clients(https_port, backend, 2.0)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
