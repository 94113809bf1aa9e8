"""A package's public names, imported on first use (PEP 562): importing `stylesynth.engine` or
`stylesynth.nets` for one torch-free module (the command line's help) does not load torch."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def exports(package: str, names: dict[str, str]) -> Callable[[str], object]:
    """The `__getattr__` of `package` that imports `name` from its module `names[name]`."""

    def __getattr__(name: str) -> object:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{names[name]}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
