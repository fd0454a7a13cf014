"""Modules imported on first use: what a web worker never needs to answer
(numpy, for the region shapes and the rare distance matrix) stays out of
its memory until something asks for it.

Not :class:`importlib.util.LazyLoader`: on Python 3.11 it is not
thread-safe (the first threads to touch the module at once run its import
together, and all but one see it half-built: ``module 'numpy' has no
attribute 'asarray'``). Here a stand-in imports the module the ordinary
way, under a lock, on its first attribute look-up; the real module only
enters ``sys.modules`` once that import has finished."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands in for a module until an attribute of it is looked up."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None
        self._lock = threading.Lock()

    def _load(self) -> ModuleType:
        with self._lock:
            if self._module is None:
                self._module = importlib.import_module(self._name)
            return self._module

    def __getattr__(self, attr: str) -> Any:
        # called only for what the stand-in itself lacks: remembered on it,
        # so that the next look-up of the same name is a plain one
        value = getattr(self._module or self._load(), attr)
        setattr(self, attr, value)
        return value

    def __repr__(self) -> str:
        state = "imported" if self._module is not None else "not imported yet"
        return f"<lazy module {self._name!r} ({state})>"


def lazy_module(name: str) -> ModuleType:
    """``name`` as a module imported on its first attribute look-up (the
    module itself when it is imported already)."""
    if name in sys.modules:
        return sys.modules[name]
    if importlib.util.find_spec(name) is None:
        raise ImportError(f"no module named {name!r}")
    return LazyModule(name)  # type: ignore[return-value]
