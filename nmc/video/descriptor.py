"""What the registry and the ``nmc`` command know about the video codec without importing it.

Importing the codec itself (:mod:`nmc.video.codec`) imports torch (≈ 1.3–2.5 s); building the
command line's parser, ``nmc info`` and decoding a point cloud need none of it.
"""

from __future__ import annotations

from nmc.media.reader import INPUT_SUFFIXES

NAME = "video"
CODEC_ID = 1
CODEC_MODULE = "nmc.video.codec"

OPTIONS = {
    "quality": "quality level 1 (smallest file) .. 8 (best); default 4",
    "target_bpp": "encode at the best quality whose file stays under this many bits per pixel",
    "family": "synthesis family: conv (per-pixel MLP + 3x3 refinement, default) or mlp",
    "preset": "encoder time preset: fast, medium (default) or slow (more fitting steps)",
    "gop": "frames per group: one I frame (latents + networks) then P frames (steps); 1 = all I",
    "steps": "Adam steps per P frame (default: preset's, 200 for medium)",
    "intra_steps": "Adam steps of the first I frame (default: preset's, 2500 for medium)",
    "lam": "rate weight lambda in MSE per bpp (overrides the quality level's)",
    "inter_lam": "P frames' rate weight as a multiple of lambda (default 4)",
    "motion": "motion-compensated P frames (default true; false: the ablation without motion)",
    "motion_block": "motion block side in luma pixels: 8, 16, 32 or 64 (default: the quality's)",
    "latent_residual": "P frames also fit residual latents and a synthesis step (default "
    "true; the transform residual codes what motion misses either way)",
    "latent_probe": "when a P frame drops its residual latents, the next ones fit their vectors "
    "alone and every Nth fits latents again (default 6; 1 = every P frame)",
    "prior": "code I-frame networks as a step from nmc's shipped prior (default true)",
    "frames": "number of frames to encode / to decode (default: all)",
    "start": "first frame, 0-based (decode: seeks to the I frame at or before it)",
    "fps": "frame rate of an array source (default 25)",
    "seed": "seed of the network initialization (encoder only)",
    "threads": "torch CPU threads for fitting (default: 1 below 0.2 megapixels, else torch's)",
    "device": "cpu or cuda",
}
__all__ = ["CODEC_ID", "CODEC_MODULE", "INPUT_SUFFIXES", "NAME", "OPTIONS"]
