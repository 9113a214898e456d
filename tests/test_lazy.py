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


def test_command_line_imports_no_codec_until_one_codes() -> None:
    """Building ``nmc``'s parser (every codec's and the evaluation's options included) imports
    no codec module, nor torch, scipy or matplotlib; ``nmc.video`` names resolve on use; a
    file's codec id loads only its codec."""
    script = (
        "import sys, nmc.cli, nmc.video, nmc.registry\n"
        "nmc.cli.build_parser()\n"
        "heavy = {'torch', 'scipy', 'matplotlib', 'nmc.video.codec', 'nmc.pointcloud.codec'}\n"
        "assert not heavy & set(sys.modules), heavy & set(sys.modules)\n"
        "assert 'VideoDecoder' in nmc.video.__all__ and 'torch' not in sys.modules\n"
        "assert nmc.registry.by_id(2).NAME == 'pointcloud'\n"
        "assert nmc.registry.for_source('scan.ply').NAME == 'pointcloud'\n"
        "assert not {'torch', 'nmc.video.codec'} & set(sys.modules)\n"
        "assert nmc.registry.by_id(1).CODEC_ID == 1 and 'nmc.video.codec' in sys.modules\n"
        "assert callable(nmc.video.decode)\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
