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

Names load on first use: importing the package (for the codec's descriptor, say) does not
import torch.
"""

from __future__ import annotations

from nmc._lazy import lazy_exports

_EXPORTS = {
    "EncoderConfig": "nmc.video.config",
    "FrameTrace": "nmc.video.encoder",
    "FrameWriter": "nmc.video.io",
    "Video": "nmc.media",
    "VideoDecoder": "nmc.video.decoder",
    "config_for": "nmc.video.config",
    "decode": "nmc.video.decoder",
    "encode": "nmc.video.codec",
    "encode_video": "nmc.video.encoder",
    "read_video": "nmc.video.io",
    "write_video": "nmc.video.io",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
