"""The export_s3 plugin is discovered through its entry point and registers
the ``s3`` exporter and its settings, without importing boto3."""

import subprocess
import sys

from ichnaea_host.core.settings import Settings
from ichnaea_host.plugins.manager import build_plugin_host


def test_discovered_and_enabled():
    host = build_plugin_host(Settings.from_env({}), strict=True)
    info = {i.name: i for i in host.plugin_list()}["export_s3"]
    assert info.distribution == "ichnaea-export-s3"
    assert info.enabled and info.error is None
    assert info.registers == {"exporters": ["s3"]}
    assert host.exporters()["s3"].PARTITIONED is True
    envs = {s["env"] for s in info.settings}
    assert {"ICHNAEA_EXPORT_S3__ENDPOINT_URL", "ICHNAEA_EXPORT_S3__REGION"} <= envs


def test_boto3_is_imported_late():
    code = (
        "import sys\n"
        "from ichnaea_host.plugins.manager import build_plugin_host\n"
        "from ichnaea_host.core.settings import Settings\n"
        "host = build_plugin_host(Settings.from_env({}, plugins=['export_s3']), strict=True)\n"
        "assert 's3' in host.exporters()\n"
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
