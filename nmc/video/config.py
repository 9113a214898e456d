"""Encoder settings: one frozen dataclass, and the quality ladder that fills it.

Quality 1 (smallest file) .. 8 (best) sets the quantization step of I-frame weights and
P-frame updates, the rate weight ``lambda`` and (conv) the network size; step counts and
learning rates depend on the family only. Any field can be overridden by an encode option of
the same name.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from nmc.errors import InputError
from nmc.video.conv import ConvArch
from nmc.video.mlp import MlpArch
from nmc.video.networks import FAMILIES, UPDATE_MODES

QUALITIES = range(1, 9)
DEFAULT_QUALITY = 4


@dataclass(frozen=True)
class EncoderConfig:
    """Everything that decides an encode (see :func:`config_for` for the defaults).

    Attributes:
        family: ``"mlp"`` or ``"conv"``.
        arch: layer sizes of the family's network.
        gop: frames per group of pictures (one I frame, then P frames).
        update: which parameters a P frame moves (:data:`nmc.video.networks.UPDATE_MODES`).
        rank: rank of ``lowrank`` updates.
        intra_steps: Adam steps of an I frame fitted from scratch.
        warm_steps: Adam steps of an I frame warm-started from the previous frame.
        steps: Adam steps per P frame.
        intra_lr, update_lr: peak learning rates of I and P fitting.
        intra_step: quantization step of I-frame weights.
        update_step: quantization step of P-frame updates.
        lam: rate weight (MSE per bit per pixel) of both fits.
        warm_start: start I frames after the first from the previous decoded weights.
        seed: seed of the random initialization (encoder only; never needed to decode).
        quality: the quality level the settings came from (0 = custom).
        device: torch device of the fitting (``"cpu"`` or ``"cuda"``).
        threads: torch CPU threads of the fitting; 0 = automatic (one thread below 0.2
            megapixels, where these small networks gain little from more threads and lose a
            lot when the cores are shared: 31 ms vs 1.5 ms per step measured here under load;
            torch's own setting above).
    """

    family: str = "conv"
    arch: MlpArch | ConvArch = field(default_factory=ConvArch)
    gop: int = 30
    update: str = "all"
    rank: int = 2
    intra_steps: int = 600
    warm_steps: int = 150
    steps: int = 100
    intra_lr: float = 1e-2
    update_lr: float = 2e-3
    intra_step: float = 0.01
    update_step: float = 0.01
    lam: float = 0.0
    warm_start: bool = True
    seed: int = 0
    quality: int = DEFAULT_QUALITY
    device: str = "cpu"
    threads: int = 0

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise InputError(f"family must be one of {', '.join(FAMILIES)}, got {self.family!r}")
        if self.update not in UPDATE_MODES:
            raise InputError(
                f"update must be one of {', '.join(UPDATE_MODES)}, got {self.update!r}"
            )
        expected = MlpArch if self.family == "mlp" else ConvArch
        if not isinstance(self.arch, expected):
            raise InputError(f"the {self.family} family needs a {expected.__name__}")
        for name in ("gop", "intra_steps"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("warm_steps", "steps", "rank", "threads"):
            if getattr(self, name) < 0:
                raise InputError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("intra_lr", "update_lr", "intra_step", "update_step"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name} must be > 0, got {getattr(self, name)}")
        if not self.lam >= 0:
            raise InputError(f"lam must be >= 0, got {self.lam}")


# Quality ladder, measured on carphone (30 frames): the rate weight follows the step as
# lambda = step**2 (a step's squared error per coded bit), which traced the best trade-off of
# the (step, lambda) pairs tried; above quality 4 the networks grow (a larger network costs
# more bits per frame but is the only way past ~35 dB for conv, ~32 dB for the MLP).
_STEPS = (0.04, 0.03, 0.024, 0.02, 0.02, 0.016, 0.012, 0.01)
_SMALL, _MEDIUM, _LARGE = (
    ConvArch(8, (16, 12, 8)),
    ConvArch(8, (24, 16, 12)),
    ConvArch(12, (32, 24, 16)),
)
_CONV_ARCHS = (_SMALL, _SMALL, _SMALL, _SMALL, _MEDIUM, _MEDIUM, _MEDIUM, _LARGE)
_MLP_ARCHS = (MlpArch(),) * 4 + (MlpArch(128, 64, 3),) * 4
_FAMILY_DEFAULTS = {
    "conv": dict(update="all", intra_steps=600, warm_steps=150, steps=100, intra_lr=1e-2,
                 update_lr=2e-3),
    "mlp": dict(update="first", intra_steps=1000, warm_steps=200, steps=100,
                intra_lr=5e-3, update_lr=1e-3),
}  # fmt: skip


def config_for(
    family: str = "conv", quality: int = DEFAULT_QUALITY, **overrides: object
) -> EncoderConfig:
    """The settings of ``family`` at ``quality`` (1..8), with any field overridden by name."""
    if family not in FAMILIES:
        raise InputError(f"family must be one of {', '.join(FAMILIES)}, got {family!r}")
    if quality not in QUALITIES:
        raise InputError(f"quality must be an integer 1..8, got {quality!r}")
    step = _STEPS[quality - 1]
    arch = (_CONV_ARCHS if family == "conv" else _MLP_ARCHS)[quality - 1]
    base = EncoderConfig(
        family=family,
        quality=quality,
        intra_step=step,
        update_step=step,
        lam=step * step,
        arch=arch,
        **_FAMILY_DEFAULTS[family],
    )
    unknown = set(overrides) - set(EncoderConfig.__dataclass_fields__)
    if unknown:
        raise InputError(f"unknown encoder setting(s): {', '.join(sorted(unknown))}")
    custom = {k: v for k, v in overrides.items() if v is not None}
    if custom.keys() & {"intra_step", "update_step", "lam"}:
        custom["quality"] = 0
    return replace(base, **custom)
