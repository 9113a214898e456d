"""BT.601 RGB -> YUV 4:2:0: closed-form values, odd sizes, and ffmpeg's swscale."""

from __future__ import annotations

import av
import numpy as np

from nmc.media import rgb_to_yuv420


def test_rgb_to_yuv420_limited_range_extremes_and_odd_sizes() -> None:
    frames = np.zeros((2, 5, 7, 3), np.uint8)
    frames[0] = 255
    y, u, v = rgb_to_yuv420(frames)
    assert y.shape == (2, 5, 7) and u.shape == v.shape == (2, 3, 4)
    assert (y[0] == 235).all() and (y[1] == 16).all()
    assert (u == 128).all() and (v == 128).all()
    red = np.zeros((2, 2, 3), np.uint8)
    red[..., 0] = 255
    ry, ru, rv = rgb_to_yuv420(red)  # single frame keeps no T axis
    assert ry.shape == (2, 2) and int(ru[0, 0]) == 90 and int(rv[0, 0]) == 240


def test_rgb_to_yuv420_matches_swscale_on_real_frames(carphone) -> None:
    with av.open(str(carphone)) as container:
        frames = [f for _, f in zip(range(2), container.decode(video=0))]
    rgb = np.stack([f.to_ndarray(format="rgb24") for f in frames])
    y, u, v = rgb_to_yuv420(rgb)
    for index in range(2):
        scaled = av.VideoFrame.from_ndarray(rgb[index], format="rgb24").reformat(format="yuv420p")
        reference = scaled.to_ndarray()
        height = rgb.shape[1]
        assert np.abs(y[index].astype(int) - reference[:height]).max() <= 1
        # swscale filters chroma with its own kernel; the 2x2 mean stays close to it.
        chroma = reference[height:].reshape(2, height // 2, -1)
        assert np.abs(u[index].astype(int) - chroma[0]).mean() < 1.0
        assert np.abs(v[index].astype(int) - chroma[1]).mean() < 1.0
