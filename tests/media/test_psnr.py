"""PSNR of YUV planes lives in nmc.media, below both the codecs and the harness."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from nmc.eval import metrics
from nmc.media import psnr_planes
from nmc.media.psnr import PSNR_CAP_DB


def test_psnr_planes_weights_luma_six_to_one():
    y, c = np.zeros((2, 4, 4)), np.zeros((2, 2, 2))
    out = psnr_planes((y, c, c), (y + 1, c, c + 2))
    assert out["y"] == pytest.approx(10 * np.log10(255**2))
    assert out["u"] == PSNR_CAP_DB
    assert out["v"] == pytest.approx(10 * np.log10(255**2 / 4))
    assert out["yuv"] == pytest.approx((6 * out["y"] + out["u"] + out["v"]) / 8)


def test_the_harness_measures_with_the_same_function():
    assert metrics.psnr_planes is psnr_planes


def test_nmc_media_does_not_import_the_harness():
    code = "import sys, nmc.media; print([m for m in sys.modules if m.startswith('nmc.eval')])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
