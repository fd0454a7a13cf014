"""The wigle plugin is discovered through its entry point and adds
``ichnaea import wigle``."""

import subprocess
import sys

from click.testing import CliRunner

from ichnaea_host.cli.commands import cli
from ichnaea_host.core.settings import Settings
from ichnaea_host.plugins.manager import build_plugin_host


def test_discovered_and_enabled():
    host = build_plugin_host(Settings.from_env({}), strict=True)
    info = {i.name: i for i in host.plugin_list()}["wigle"]
    assert info.distribution == "ichnaea-wigle"
    assert info.enabled and info.error is None


def test_import_wigle_command(tmp_path):
    result = CliRunner().invoke(cli, ["import", "--help"],
                                env={"ICHNAEA_VAR_DIR": str(tmp_path)})
    assert result.exit_code == 0 and "wigle" in result.output
    missing = CliRunner().invoke(cli, ["import", "wigle", str(tmp_path / "x.csv")],
                                 env={"ICHNAEA_VAR_DIR": str(tmp_path)})
    assert missing.exit_code == 2 and "x.csv' does not exist" in missing.output
    (tmp_path / "x.csv").write_text("")
    offset = CliRunner().invoke(cli, ["import", "wigle", "--utc-offset", "2h",
                                      str(tmp_path / "x.csv")],
                                env={"ICHNAEA_VAR_DIR": str(tmp_path)})
    assert offset.exit_code == 2 and "'2h' is no UTC offset" in offset.output


def test_hooks_module_imports_nothing_heavy():
    code = (
        "import sys\n"
        "import ichnaea_wigle.hooks\n"
        "assert 'ichnaea_wigle.wigle' not in sys.modules\n"
        "assert 'flask' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
