"""Media shared by the codecs and the evaluation harness: numpy and PyAV, no torch.

The codec (:mod:`nmc.video`) and the harness (:mod:`nmc.eval`) must not import each other, and
the harness must import without torch; what both need lives here:

- :mod:`nmc.media.yuv`: 4:2:0 chroma sizes and resampling, BT.601 RGB <-> YCbCr
  (:func:`rgb_to_yuv420`, :func:`yuv420_to_rgb`).
- :mod:`nmc.media.ycbcr`: BT.709 full-range RGB <-> YCbCr of point colours (G-PCC's and
  ``pc_error``'s space), shared by the point-cloud codec and the harness.
- :mod:`nmc.media.frames`: :class:`Video`, a clip as 8-bit 4:2:0 planes.
- :mod:`nmc.media.reader`: :func:`read_frames`, one reader of y4m, raw .yuv and what PyAV opens.
- :mod:`nmc.media.psnr`: :func:`psnr_planes`, PSNR of YUV 4:2:0 planes (DESIGN.md § 5).
- :mod:`nmc.media.y4m`: y4m reading and writing; :mod:`nmc.media.avframe`: PyAV frames <->
  planes.
"""

from __future__ import annotations

from nmc.media.avframe import frame_planes, planes_frame
from nmc.media.frames import Video
from nmc.media.psnr import psnr_planes
from nmc.media.reader import INPUT_SUFFIXES, SourceInfo, read_frames
from nmc.media.yuv import chroma_size, rgb_to_yuv420, yuv420_to_rgb

__all__ = [
    "INPUT_SUFFIXES",
    "SourceInfo",
    "Video",
    "chroma_size",
    "frame_planes",
    "planes_frame",
    "psnr_planes",
    "read_frames",
    "rgb_to_yuv420",
    "yuv420_to_rgb",
]
