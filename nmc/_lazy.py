"""Lazy exports: a package names its public objects without importing their modules.

A light package (one the ``nmc`` command imports for its CLI plug-ins, say) writes::

    _EXPORTS = {"PointCloud": "nmc.pointcloud.cloud", ...}
    __all__ = sorted(_EXPORTS)
    __getattr__ = lazy_exports(__name__, _EXPORTS)

and ``package.PointCloud`` imports ``nmc.pointcloud.cloud`` on first use (PEP 562).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` resolving ``name`` as ``exports[name].name``.

    Args:
        package: the package's ``__name__`` (named in the error for unknown attributes).
        exports: public name -> dotted name of the module that defines it.
    """

    def resolve(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name]), name)

    return resolve
