"""The pure helpers of tools/_bench_common.py (crops, option parsing, BD records, summaries).

No codec runs here: the benchmarks themselves are checked with their ``--quick`` smoke mode.
"""

from __future__ import annotations

import importlib.util
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from nmc.media import Video

_PATH = Path(__file__).resolve().parents[2] / "tools" / "_bench_common.py"
_SPEC = importlib.util.spec_from_file_location("_bench_common", _PATH)
bench = importlib.util.module_from_spec(_SPEC)
sys.modules.setdefault(_SPEC.name, bench)  # dataclasses look their module up there
_SPEC.loader.exec_module(bench)


def _video(frames: int = 2, height: int = 8, width: int = 12) -> Video:
    y = np.arange(frames * height * width, dtype=np.uint8).reshape(frames, height, width)
    u = np.arange(frames * height * width // 4, dtype=np.uint8).reshape(
        frames, height // 2, width // 2
    )
    return Video(y, u, 255 - u, Fraction(25))


def test_crop_keeps_luma_and_chroma_aligned() -> None:
    video = _video()
    out = bench.crop_video(video, 2, 4, 4, 6)
    assert out.y.shape == (2, 4, 6) and out.u.shape == (2, 2, 3)
    np.testing.assert_array_equal(out.y, video.y[:, 2:6, 4:10])
    np.testing.assert_array_equal(out.v, video.v[:, 1:3, 2:5])


@pytest.mark.parametrize("crop", [(1, 0, 4, 4), (0, 0, 4, 3), (4, 8, 6, 6)])
def test_crop_refuses_odd_or_outside_windows(crop) -> None:
    with pytest.raises(ValueError):
        bench.crop_video(_video(), *crop)


def test_option_and_list_parsing() -> None:
    assert bench.parse_list("2, 4,,6", int) == [2, 4, 6]
    assert bench.parse_options(["steps=5", "lam=0.5", "preset=fast"]) == {
        "steps": 5,
        "lam": 0.5,
        "preset": "fast",
    }
    with pytest.raises(SystemExit):
        bench.parse_options(["steps"])


def _curve(bpp: list[float], psnr: list[float]) -> list[dict]:
    return [{"bpp": r, "psnr_yuv": p, "psnr_y": p} for r, p in zip(bpp, psnr)]


def test_bd_record_values_and_reasons() -> None:
    anchor = _curve([0.1, 0.2, 0.4, 0.8], [30.0, 33.0, 36.0, 39.0])
    half = _curve([0.05, 0.1, 0.2, 0.4], [30.0, 33.0, 36.0, 39.0])
    curves = {"a": anchor, "t": half, "short": half[:2]}
    record = bench.bd_record("clip", "t", "a", curves, "psnr_yuv")
    assert record["bd_rate_percent"] == pytest.approx(-50.0)
    missing = bench.bd_record("clip", "short", "a", curves, "psnr_yuv")
    assert missing["bd_rate_percent"] is None and "4" in missing["note"]


def test_summary_takes_the_better_family_per_clip() -> None:
    records = [
        {"clip": c, "test": t, "anchor": "x265", "metric": "psnr_yuv", "bd_rate_percent": v}
        for c, t, v in (("a", "nmc-conv", 10.0), ("a", "nmc-mlp", 5.0), ("b", "nmc-conv", None))
    ]
    summary = bench.summarize(records, ["nmc-conv", "nmc-mlp"], ["x265"])
    assert summary["better_family_bd_rate_percent"] == {"x265": {"a": 5.0, "b": None}}
    assert summary["mean_bd_rate_percent"]["nmc-conv vs x265"] == 10.0


def test_bit_parts_are_optional_and_shared_out() -> None:
    report = {
        "bits_by_part": {"motion": 100, "latents": 700},
        "per_frame": [{"kind": "IFRM", "bits": 600}, {"kind": "PFRM", "bits": 200}],
    }
    point = bench.with_parts({"codec": "nmc-conv", "bits": 1000}, report)
    assert point["frame_kinds"] == {"IFRM": 1, "PFRM": 1}
    assert point["bits_by_kind"] == {"IFRM": 600, "PFRM": 200}
    assert bench.parts_column(point) == "  motion 10% latents 70% other 20%"
    assert bench.part_shares([point]) == {"nmc-conv": {"motion": 0.1, "latents": 0.7}}
    assert bench.with_parts({"bits": 1}, {}) == {"bits": 1}
    assert bench.parts_column({"bits": 1}) == ""


def test_target_needs_every_clip_under_its_limit() -> None:
    target = bench.Target("x265-intra", 30.0, (("carphone-f0", 21.0),))
    checked = target.check({"carphone-f0": 25.0, "bikes-f150": 29.0})
    assert checked["clips"]["carphone-f0"] == {"bd_rate_percent": 25.0, "limit": 21.0, "met": False}
    assert checked["clips"]["bikes-f150"]["met"] and not checked["all_met"]
    assert target.check({"carphone-f0": -3.0, "bikes-f150": None})["all_met"] is False
    assert target.check({"carphone-f0": -3.0})["all_met"] is True
