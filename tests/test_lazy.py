"""Lazy exports: resolved on first use, unknown names refused like a normal module would."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nmc._lazy import lazy_exports


def test_resolves_names_and_refuses_unknown_ones() -> None:
    resolve = lazy_exports("pkg", {"dumps": "json", "Fraction": "fractions"})
    assert resolve("dumps")([1]) == "[1]"
    assert resolve("Fraction")(1, 2) == 0.5
    with pytest.raises(AttributeError, match="module 'pkg' has no attribute 'loads'"):
        resolve("loads")


def test_packages_import_their_modules_only_on_use() -> None:
    script = (
        "import sys, nmc.pointcloud, nmc.pointcloud.msgat\n"
        "assert 'torch' not in sys.modules and 'nmc.pointcloud.qp' not in sys.modules\n"
        "assert nmc.pointcloud.qp_step(4) == 1.0 and 'nmc.pointcloud.qp' in sys.modules\n"
        "assert 'ModelConfig' in nmc.pointcloud.msgat.__all__\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
