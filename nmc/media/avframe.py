"""PyAV video frames <-> numpy planes, for 8-bit 4:2:0 (``yuv420p``) frames.

PyAV pads each plane's rows to ``line_size`` bytes; these helpers hide the padding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import av


def _rows(plane: av.video.plane.VideoPlane) -> np.ndarray:
    """The ``[height, width]`` samples of ``plane``, a view into the frame's buffer."""
    buffer = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
    return buffer[:, : plane.width]


def frame_planes(frame: av.VideoFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Copies of the planes ``(y [H, W], u [Hc, Wc], v [Hc, Wc])`` of a ``yuv420p`` frame."""
    return tuple(_rows(plane).copy() for plane in frame.planes)  # type: ignore[return-value]


def planes_frame(y: np.ndarray, u: np.ndarray, v: np.ndarray, pts: int) -> av.VideoFrame:
    """A ``yuv420p`` PyAV frame holding uint8 planes ``[H, W]``, ``[Hc, Wc]``, ``[Hc, Wc]``,
    with presentation time ``pts`` (in the stream's time base)."""
    import av

    frame = av.VideoFrame(y.shape[1], y.shape[0], "yuv420p")
    for plane, values in zip(frame.planes, (y, u, v), strict=True):
        _rows(plane)[:] = values
    frame.pts = pts
    return frame
