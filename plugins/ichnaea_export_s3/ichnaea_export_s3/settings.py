"""Operator settings of the s3 exporter (``ICHNAEA_EXPORT_S3__<NAME>``).

Credentials are not settings: boto3 finds them itself (``AWS_ACCESS_KEY_ID``
and ``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, an instance role ...).
"""

from __future__ import annotations

import dataclasses

from ichnaea_host import ConfigError, PluginSettings, setting


@dataclasses.dataclass(frozen=True)
class S3Settings(PluginSettings):
    endpoint_url: str = setting(
        "", help="URL of an S3-compatible server, e.g. http://127.0.0.1:9000 (empty: AWS)")
    region: str = setting("", help="region name (empty: boto3's default chain)")
    addressing_style: str = setting(
        "auto", choices=("auto", "path", "virtual"),
        help="bucket addressing: path style suits most self-hosted servers")
    max_attempts: int = setting(
        3, help="attempts boto3 makes per upload before the host's own retries")
    timeout: float = setting(60.0, help="seconds to connect and to read one answer")

    def validate(self) -> None:
        if self.endpoint_url and not self.endpoint_url.startswith(("http://", "https://")):
            raise ConfigError("ICHNAEA_EXPORT_S3__ENDPOINT_URL",
                              "expected an http:// or https:// URL")
        if self.max_attempts < 1:
            raise ConfigError("ICHNAEA_EXPORT_S3__MAX_ATTEMPTS", "must be at least 1")
        if self.timeout <= 0:
            raise ConfigError("ICHNAEA_EXPORT_S3__TIMEOUT", "must be positive")
