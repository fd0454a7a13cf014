"""What ``ichnaea doctor`` reports: one :class:`CheckResult` per check.

The host checks its own backends; a plugin adds checks of its own part of a
deployment with the ``ichnaea_doctor_checks`` hook (the geoip plugin: is the
database real and recent).
"""

from __future__ import annotations

import dataclasses
from typing import Any

OK = "ok"
WARNING = "warning"
FAIL = "FAIL"


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """One line of ``ichnaea doctor``: ``status`` is ``"ok"``, ``"warning"``
    (works, but worth knowing) or ``"FAIL"`` (broken: ``fix`` says what to do)."""

    name: str
    status: str
    message: str
    fix: str = ""

    def __post_init__(self) -> None:
        if self.status not in (OK, WARNING, FAIL):
            raise ValueError(f"status must be {OK!r}, {WARNING!r} or {FAIL!r}, "
                             f"not {self.status!r}")

    @property
    def failed(self) -> bool:
        return self.status == FAIL

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def line(self) -> str:
        text = f"{self.status:<7} {self.name}: {self.message}"
        return f"{text} (fix: {self.fix})" if self.fix else text
