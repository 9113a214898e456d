"""Video codec by neural weight stepping over overfitted latent grids.

A frame is the decoder's parameters: multi-resolution integer latent grids, a tiny context
model that gives their entropy coder its probabilities, and a small synthesis network. Each
group of pictures starts with an I frame (all of them fitted and coded) and continues with
P frames (a rate-penalized, quantized step of the previous frame's decoded parameters). Two
synthesis families: ``conv`` (per-pixel MLP + residual 3x3 convolutions, default) and ``mlp``
(per-pixel MLP only).

Python API::

    from nmc.video import encode, decode, VideoDecoder
    data, report = encode("clip.mp4", frames=30, quality=4)    # or a uint8 [T,H,W,3] array
    video = decode(data)                                       # Video: YUV 4:2:0 planes
    rgb = video.rgb()                                          # uint8 [T,H,W,3]
    for y, u, v in VideoDecoder(data).frames(start=10):        # streaming, seeks to I frames
        ...
"""

from __future__ import annotations

import os
from typing import Any

from nmc.bitstream import Container
from nmc.media import Video
from nmc.video.codec import encode
from nmc.video.config import EncoderConfig, config_for
from nmc.video.decoder import VideoDecoder
from nmc.video.encoder import FrameTrace, encode_video
from nmc.video.io import FrameWriter, read_video, write_video


def decode(
    source: Container | bytes | str | os.PathLike[str],
    start: int = 0,
    frames: int | None = None,
    **options: Any,
) -> Video:
    """Decode frames ``start .. start+frames-1`` of a video ``.nmc`` (bytes, path or container).

    ``options``: ``device``. Returns 8-bit 4:2:0 planes as a
    :class:`Video`; ``video.rgb()`` gives ``uint8 [T, H, W, 3]``.
    """
    return VideoDecoder(source, **options).read(start, frames)


__all__ = [
    "EncoderConfig",
    "FrameTrace",
    "FrameWriter",
    "Video",
    "VideoDecoder",
    "config_for",
    "decode",
    "encode",
    "encode_video",
    "read_video",
    "write_video",
]
