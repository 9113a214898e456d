"""One reader for the codec's input and the harness's reference: raw .yuv, ranges, no torch."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from nmc.errors import InputError
from nmc.eval.media import load_video
from nmc.media import read_frames

REPO = Path(__file__).resolve().parents[2]


def test_raw_yuv_takes_size_and_rate_from_its_name(tmp_path, carphone) -> None:
    video, _ = read_frames(carphone, 0, 3)
    raw = tmp_path / "carphone_176x144_30fps_420_8bit_YUV.yuv"
    raw.write_bytes(b"".join(b"".join(p.tobytes() for p in video.frame(i)) for i in range(3)))
    back, info = read_frames(raw, start=1)
    assert back.fps == 30 and info.pix_fmt == "yuv420p"
    assert all(np.array_equal(a, b) for a, b in zip(back.planes, video.slice(1, 3).planes))
    bad = tmp_path / "clip_176x144_10bit.yuv"
    bad.write_bytes(bytes(10))
    with pytest.raises(InputError, match="8-bit 4:2:0"):
        read_frames(bad)
    cut = tmp_path / "carphone_176x144.yuv"
    cut.write_bytes(raw.read_bytes()[:-100])
    with pytest.raises(InputError, match="2 whole 176x144 4:2:0 frames and 37916 bytes more"):
        read_frames(cut)


def test_evaluation_reference_is_exactly_the_requested_frames(carphone) -> None:
    clip = load_video(str(carphone), 4, 2)
    video, _ = read_frames(carphone, 2, 4)
    assert clip.num_frames == 4 and clip.fps == Fraction(30000, 1001)
    assert all(np.array_equal(a, b) for a, b in zip(clip.planes, video.planes))
    with pytest.raises(InputError, match="asked for"):
        load_video(str(carphone), 5, 118)


def test_media_and_eval_import_without_torch() -> None:
    script = (
        "import importlib, pkgutil, sys, nmc.eval, nmc.media\n"
        "for m in pkgutil.iter_modules(nmc.eval.__path__, 'nmc.eval.'):\n"
        "    importlib.import_module(m.name)\n"
        "assert 'torch' not in sys.modules, 'nmc.eval or nmc.media imported torch'\n"
        "assert 'nmc.video' not in sys.modules, 'nmc.eval imported the video codec'\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=REPO, check=True, timeout=120)
