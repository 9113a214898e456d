"""Encoder settings: one frozen dataclass, the quality ladder and the time presets that fill it.

Quality 1 (smallest file) .. 8 (best) sets the rate weight ``lambda``; the preset (``fast``,
``medium``, ``slow``) sets the number of fitting steps. Any field can be overridden by an
encode option of the same name.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from nmc.errors import InputError
from nmc.video.context import ContextArch
from nmc.video.frame_model import FAMILIES, FrameSpec
from nmc.video.latents import MAX_LEVELS
from nmc.video.motion import BLOCK_SIZES
from nmc.video.synthesis import SynthesisArch

QUALITIES = range(1, 9)
DEFAULT_QUALITY = 4
PRESETS = ("fast", "medium", "slow")
DEFAULT_PRESET = "medium"


@dataclass(frozen=True)
class EncoderConfig:
    """Everything that decides an encode (see :func:`config_for` for the defaults).

    Attributes:
        family: ``"mlp"`` (per-pixel MLP synthesis) or ``"conv"`` (+ residual 3x3 layers).
        levels: latent grids (finest at the 4:2:0 luma size, each next one half as large).
        synthesis, context: layer sizes of the synthesis and of the latents' context model.
        gop: frames per group of pictures (one I frame, then P frames).
        intra_steps: Adam steps of an I frame fitted from scratch.
        warm_steps: Adam steps of an I frame warm-started from the previous decoded frame.
        steps: Adam steps per P frame.
        lr: peak learning rate of I frames; update_lr: of P frames (the ladder raises both
            at high qualities, where fits converge slowly).
        lam: rate weight (MSE per bit per pixel; MSE of samples scaled to [0, 1]).
        inter_lam: P frames' rate weight as a multiple of ``lam`` (default 4). A P frame is
            judged on its own bits and error, but the I frame's quality carries into every
            frame predicted from it: the same lambda for both overspent on P frames
            (carphone, 10 frames, conv, q3 and q5, at equal PSNR-YUV: factor 3 -4 … -11 %,
            factor 6 -10 … -13 % bits against 1; over 30 frames at q4 factors 3 and 6 lie on
            one RD slope — docs/video.md).
        update_step: quantization step of P-frame steps of the synthesis weights.
        motion: predict P frames by motion compensation (False: the ablation without motion,
            P frames are residuals over the previous frame).
        latent_residual: fit P frames' residual latents and synthesis step along with the
            vectors (False: the vectors alone; the transform residual, nmc.video.transform,
            codes what the prediction misses either way). Measured with the transform
            residual, fast preset, 8 frames, mlp (kbit @ PSNR-YUV, True -> False): bikes-pan
            q3 9.55 @ 33.45 -> 9.62 @ 33.38, q6 25.9 @ 37.82 -> 28.2 @ 38.21; bbb-bunny q3
            30.3 @ 31.28 -> 30.2 @ 31.26; carphone conv q5 25.5 @ 32.76 -> 25.5 @ 32.78, q7
            58.5 @ 36.13 -> 56.6 @ 36.12: equal within a chain's noise, a quarter faster.
        latent_probe: with ``latent_residual``, a P frame fits residual latents when the
            previous P frame of its group kept some (or it is the group's first), and
            otherwise only every ``latent_probe``-th P frame; the others fit their vectors
            alone, about 3x faster (:class:`nmc.video.inter.LatentSchedule`). 1 = every P
            frame fits them.
        motion_block: side of the motion blocks in luma pixels (8, 16, 32 or 64; one vector
            per block). The ladder uses 32 up to quality 5 and 16 above (docs/video.md).
        warm_start: start I frames after the first from the previous decoded state.
        prior: start I frames from nmc's shipped networks for this shape and code the weights
            as a step from them (:mod:`nmc.video.prior`); no effect on shapes without one.
        seed: seed of the random initialization and training noise (encoder only).
        quality: the quality level the settings came from (0 = custom).
        preset: the time preset the step counts came from.
        device: torch device of the fitting (``"cpu"`` or ``"cuda"``).
        threads: torch CPU threads of the fitting; 0 = automatic (one thread below 0.2
            megapixels, where these small networks gain little from more threads and lose a
            lot when the cores are shared; torch's own setting above).
    """

    family: str = "conv"
    levels: int = 7
    synthesis: SynthesisArch = field(default_factory=lambda: SynthesisArch((8,), 1))
    # 32 wide (234 -> 1,666 weights, coded as a step from the shipped prior): -7 % bits at equal
    # PSNR-YUV on three frames in no benchmark (docs/video.md, "Why 32 wide"); positional
    # inputs (each latent's phase and level, 2,018 weights): -8.4 % more on the same frames.
    context: ContextArch = field(default_factory=lambda: ContextArch((32, 32), positional=True))
    gop: int = 30
    intra_steps: int = 2500
    warm_steps: int = 500
    steps: int = 200
    lr: float = 1e-2
    update_lr: float = 2e-3
    lam: float = 1e-3
    inter_lam: float = 4.0
    update_step: float = 2.0**-7
    motion: bool = True
    latent_residual: bool = True
    latent_probe: int = 6
    motion_block: int = 16
    warm_start: bool = True
    prior: bool = True
    seed: int = 0
    quality: int = DEFAULT_QUALITY
    preset: str = DEFAULT_PRESET
    device: str = "cpu"
    threads: int = 0

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise InputError(f"family must be one of {', '.join(FAMILIES)}, got {self.family!r}")
        if self.preset not in PRESETS:
            raise InputError(f"preset must be one of {', '.join(PRESETS)}, got {self.preset!r}")
        if not 1 <= self.levels <= MAX_LEVELS:
            raise InputError(f"levels must be 1..{MAX_LEVELS}, got {self.levels}")
        for name in ("gop", "intra_steps", "latent_probe"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("warm_steps", "steps", "threads"):
            if getattr(self, name) < 0:
                raise InputError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("lr", "update_lr", "update_step"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.motion_block not in BLOCK_SIZES:
            sizes = ", ".join(map(str, BLOCK_SIZES))
            raise InputError(f"motion_block must be one of {sizes}, got {self.motion_block!r}")
        for name in ("lam", "inter_lam"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name} must be > 0, got {getattr(self, name)}")

    def frame_spec(self, height: int, width: int) -> FrameSpec:
        """The frame model these settings build for a ``height x width`` clip."""
        return FrameSpec(self.family, self.levels, self.synthesis, self.context, height, width)


# Quality ladder: lambda halves per level. Measured on carphone frame 0 (conv, 1500 steps):
# lambda 0.004 -> 0.40 bpp, 0.001 -> 0.77 bpp; the ladder spans about 0.15 - 2 bpp on QCIF.
_LAMBDAS = tuple(0.016 * 0.5**k for k in range(8))
# Small networks: at QCIF every weight is a sizeable share of the file (measured on carphone
# frame 0, 1500 steps: synthesis 16-16 + context 12-12 cost 5 kbit of a 23 kbit frame; 8 +
# one 3x3 refinement with context 8-8 cost 2.7 kbit and gave a better rate-distortion point).
# Learned 8-tap 2x upsampling kernels (session 20): -6.7 % bits at equal PSNR-YUV on three
# frames in no benchmark (docs/video.md § I frames).
_SYNTHESIS = {"mlp": SynthesisArch((12,), 0, 8), "conv": SynthesisArch((8,), 1, 8)}
# Motion blocks: larger blocks where the vectors are a large share of a P frame. Carphone,
# conv, 32-pixel blocks against 16 (kbit @ PSNR-YUV): 10 frames (version 4) q1 5.50 @ 26.46
# -> 5.44 @ 26.74, q3 15.8 @ 29.74 -> 12.9 @ 29.42, q4 19.8 @ 31.19 -> 15.9 @ 30.61; 30 frames
# (version 5) q5 39.9 @ 30.72 -> 34.2 @ 30.74, q7 103.4 @ 33.15 -> 97.9 @ 32.84 (the ladder's
# slope there is 1.8 dB per doubling of rate: 16 pays at q7).
_MOTION_BLOCKS = {1: 32, 2: 32, 3: 32, 4: 32, 5: 32}
# Peak learning rate of I frames per quality. At high rates the fit is far from converged
# after the preset's steps (carphone-f0 at lambda 3e-5: 2500 steps 60.1 kbit @ 40.90 dB, 6000
# steps 65.1 @ 42.60), and a larger rate gets there faster. Measured (medium, conv, kbit @
# PSNR-YUV, lr 0.01 -> larger; bikes-f60: bikes frame 60 cropped at (100, 100), in no bench):
# carphone-f0 q8 41.6 @ 39.77 -> 43.5 @ 40.69 (0.02), 49.1 @ 41.39 (0.04); q6 24.6 @ 36.87
# -> 25.9 @ 37.38 (0.015), 26.0 @ 37.30 (0.02); q4 13.4 @ 33.27 -> 14.2 @ 33.00 (0.02,
# worse); q2 6.85 @ 29.54 -> 7.74 @ 29.92 (0.02, about equal); bikes-f60 q7 16.7 @ 42.35 ->
# 16.8 @ 42.87, q5 10.2 @ 39.30 -> 10.7 @ 39.76, q3 6.44 @ 35.82 -> 6.58 @ 36.04 (all 0.02).
_LEARNING_RATES = (0.01, 0.01, 0.01, 0.01, 0.015, 0.015, 0.02, 0.02)
# The same for P frames, whose residual latents start at 0 and move about 16 * update_lr per
# Adam step at most: at q7 the residual is half of a file. carphone, conv, 0.002 -> 0.004
# (kbit @ PSNR-YUV): q7 10 frames 58.6 @ 35.80 -> 57.9 @ 36.16, 30 frames 118.3 @ 34.45 ->
# 109.9 @ 34.69 (0.008: 57.4 @ 36.10, 112.3 @ 34.41); q5 30 frames 35.5 @ 31.25 -> 36.0 @
# 30.99 (worse: kept at 0.002).
_UPDATE_LEARNING_RATES = (0.002, 0.002, 0.002, 0.002, 0.002, 0.002, 0.004, 0.004)
# Steps per preset. Medium was 1500 / 300 / 100 until the fit's steps got twice as fast
# (docs/video.md); the same time now buys 2500 / 500 / 200. Measured on single frames (kbit @
# dB, conv): bikes-f60 q2 4.54 @ 33.94 -> 4.31 @ 34.25, q6 13.06 @ 39.94 -> 12.61 @ 39.99;
# carphone-f0 q4 12.78 @ 32.73 -> 12.96 @ 32.71; P frames, carphone 10 frames q5 (200 P-frame
# steps against 100): 23.4 @ 31.56 -> 24.0 @ 31.84, q3 12.08 @ 29.48 -> 12.05 @ 29.50.
_PRESET_STEPS = {
    "fast": dict(intra_steps=600, warm_steps=150, steps=50),
    "medium": dict(intra_steps=2500, warm_steps=500, steps=200),
    "slow": dict(intra_steps=5000, warm_steps=800, steps=250),
}


def config_for(
    family: str = "conv",
    quality: int = DEFAULT_QUALITY,
    preset: str = DEFAULT_PRESET,
    **overrides: object,
) -> EncoderConfig:
    """The settings of ``family`` at ``quality`` (1..8) and ``preset``, with any field
    overridden by name."""
    if family not in FAMILIES:
        raise InputError(f"family must be one of {', '.join(FAMILIES)}, got {family!r}")
    if quality not in QUALITIES:
        raise InputError(f"quality must be an integer 1..8, got {quality!r}")
    if preset not in PRESETS:
        raise InputError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    base = EncoderConfig(
        family=family,
        quality=quality,
        preset=preset,
        lam=_LAMBDAS[quality - 1],
        lr=_LEARNING_RATES[quality - 1],
        update_lr=_UPDATE_LEARNING_RATES[quality - 1],
        synthesis=_SYNTHESIS[family],
        motion_block=_MOTION_BLOCKS.get(quality, 16),
        **_PRESET_STEPS[preset],
    )
    unknown = set(overrides) - set(EncoderConfig.__dataclass_fields__)
    if unknown:
        raise InputError(f"unknown encoder setting(s): {', '.join(sorted(unknown))}")
    custom = {k: v for k, v in overrides.items() if v is not None}
    if custom.keys() & {"lam", "inter_lam", "update_step"}:
        custom["quality"] = 0
    return replace(base, **custom)
