"""The host's modules stand in floors: no module imports, even inside a
function, a module that imports it back (directly or through others)."""

from __future__ import annotations

import ast
from pathlib import Path

import ichnaea_host

ROOT = Path(ichnaea_host.__file__).parent


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        if "migrations" in path.relative_to(ROOT).parts:
            continue  # the migration files are loaded by the migration runner
        parts = ["ichnaea_host", *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The host modules ``module`` imports anywhere in its text."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                targets.add(sub if sub in modules else target)
    return {t for t in targets if t in modules and t != module}


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of the graph, as the modules along it, or None."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        if node in path:
            return [*path[path.index(node):], node]
        if node in done:
            return None
        path.append(node)
        for nxt in sorted(graph[node]):
            cycle = visit(nxt)
            if cycle:
                return cycle
        path.pop()
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start)
        if cycle:
            return cycle
    return None


def test_the_check_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_host_modules_import_each_other():
    graph = import_graph()
    assert "ichnaea_host.api.loader" in graph["ichnaea_host.api.schemas"]  # the graph is real
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


# ---------------------------------------------------------------------------
# the plugin API: plugins import only ``ichnaea_host`` itself

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"


def host_imports_of_plugins() -> list[str]:
    """Every import of a host submodule in a plugin's package (tests excluded),
    as ``path:line: module``."""
    found = []
    for path in sorted(PLUGINS.glob("*/ichnaea_*/**/*.py")):
        if "tests" in path.relative_to(PLUGINS).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            for name in names:
                if name.startswith("ichnaea_host."):
                    found.append(f"{path.relative_to(PLUGINS)}:{node.lineno}: {name}")
    return found


def test_plugins_import_only_the_plugin_api():
    assert list(PLUGINS.glob("*/ichnaea_*/**/*.py")), "the plugins are where the test looks"
    assert host_imports_of_plugins() == []


def test_the_rule_sees_an_import_inside_a_function(tmp_path):
    package = tmp_path / "ichnaea_sneaky" / "ichnaea_sneaky"
    package.mkdir(parents=True)
    (package / "hooks.py").write_text(
        "from ichnaea_host import hookimpl\n\n"
        "def late():\n    from ichnaea_host.core.db import upsert\n    return upsert\n")
    global PLUGINS
    saved, PLUGINS = PLUGINS, tmp_path
    try:
        assert host_imports_of_plugins() == [
            "ichnaea_sneaky/ichnaea_sneaky/hooks.py:4: ichnaea_host.core.db"]
    finally:
        PLUGINS = saved


def test_every_name_of_the_plugin_api_resolves():
    for name in ichnaea_host.__all__:
        assert getattr(ichnaea_host, name) is not None, name
    assert ichnaea_host.region_at.__name__ == "region"  # an API name for a host function
    assert "Radio" in dir(ichnaea_host)
    try:
        ichnaea_host.Runtime  # noqa: B018 - the host's own, not the plugins'
    except AttributeError as exc:
        assert "Runtime" in str(exc)
    else:
        raise AssertionError("Runtime is not part of the plugin API")


def test_type_checkers_see_the_same_names():
    """The ``if TYPE_CHECKING:`` imports name exactly the API, from the same modules."""
    tree = ast.parse((ROOT / "__init__.py").read_text(encoding="utf-8"))
    block = next(node for node in tree.body if isinstance(node, ast.If))
    seen = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom)
        for alias in node.names:
            seen[alias.asname or alias.name] = (node.module, alias.name)
    assert seen == ichnaea_host._WHERE


# ---------------------------------------------------------------------------
# floors: each module imports only from its own floor or below (DESIGN.md §2)

#: (floor, module prefixes), lowest first; the longest matching prefix decides
FLOORS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (0, ("ichnaea_host.core.settings", "ichnaea_host.core.lazy",
         "ichnaea_host.core.clock", "ichnaea_host.core.log", "ichnaea_host.core.geo",
         "ichnaea_host.core.regions", "ichnaea_host.core.geocode",
         "ichnaea_host.core.checks",
         # plain values of the plugin contract: a query and its answers, the
         # lenient schema fields
         "ichnaea_host.core.answers", "ichnaea_host.core.lenient")),
    # the hook specs (typed with the plugin classes), the database layer, the
    # plugin classes and the site's sections and jobs, the queue layer, the
    # public files, the station kit and the plugin manager
    (1, ("ichnaea_host.core", "ichnaea_host.stations", "ichnaea_host.plugins.manager")),
    # the plugin API: it reaches no further than the floor below
    (2, ("ichnaea_host",)),
    # the runtime, the host's models and the worker's jobs
    (3, ("ichnaea_host.plugins", "ichnaea_host.core.models", "ichnaea_host.core.calibration",
         "ichnaea_host.core.migrate", "ichnaea_host.pipeline")),
    (4, ("ichnaea_host.api", "ichnaea_host.site")),
    (5, ("ichnaea_host.app",)),
    (6, ("ichnaea_host.cli", "ichnaea_host.testing")),
)

#: module -> the host modules it names as strings it knows to be looked up
#: lower down the floors (the built-in plugins the manager registers in
#: every process: modules of plugins, which the manager loads as it loads
#: installed ones)
NAMED_UPWARDS = {
    "ichnaea_host.plugins.manager": {"ichnaea_host.pipeline.builtin",
                                     "ichnaea_host.pipeline.periodic",
                                     "ichnaea_host.site.content"},
}


def floor(module: str) -> int:
    best, found = -1, 0
    for level, prefixes in FLOORS:
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), level
    return found


def named_modules(path: Path, modules: dict[str, Path]) -> set[str]:
    """Host modules a module names in strings (``importlib.import_module(...)``,
    lazy imports, tables of dotted names)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            name = node.value.split(":")[0]
            if name in modules:
                found.add(name)
    return found


def floor_violations() -> list[str]:
    modules = _modules()
    out = []
    for name, path in sorted(modules.items()):
        here = floor(name)
        imported = _imports(name, path, modules)
        named = named_modules(path, modules) - NAMED_UPWARDS.get(name, set()) - {name}
        for target in sorted(imported | named):
            if floor(target) > here:
                how = "imports" if target in imported else "names"
                out.append(f"{name} (floor {here}) {how} {target} (floor {floor(target)})")
    return out


def test_the_floor_check_sees_strings_and_imports():
    assert floor("ichnaea_host.core") == 1 and floor("ichnaea_host.core.db") == 1
    assert floor("ichnaea_host.core.models") == 3
    assert floor("ichnaea_host.cli.commands") == 6 and floor("ichnaea_host") == 2
    modules = _modules()
    path = ROOT / "plugins" / "manager.py"
    assert "ichnaea_host.site.content" in named_modules(path, modules)


def test_modules_import_only_from_their_floor_or_below():
    assert floor_violations() == []
