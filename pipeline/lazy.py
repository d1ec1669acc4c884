"""Heavy third-party modules loaded at first use, so that commands which never draw or detect
(`pipeline --help`, `validate`, `scenes`) start without them. Pure Python, no pipeline imports."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for module `name`; imports it (after `before()`, when given) on first attribute
    access. Attribute access is the only use: `ndimage.label(...)`, `plt.subplots(...)`."""

    def __init__(self, name: str, before: Callable[[], None] | None = None) -> None:
        self._name = name
        self._before = before
        self._module: ModuleType | None = None

    def _load(self) -> ModuleType:
        if self._module is None:
            if self._before is not None:
                self._before()
            self._module = importlib.import_module(self._name)
        return self._module

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        return getattr(self._load(), attr)

    def __repr__(self) -> str:
        state = "loaded" if self._module is not None else "not loaded yet"
        return f"<lazy module {self._name} ({state})>"
