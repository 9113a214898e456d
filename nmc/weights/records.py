"""One quantized tensor as a payload record: how it was quantized, its step, its coded levels.

Shared by :mod:`nmc.weights.state_dict` (whole weights) and the update coder (weight steps).
A record starts with one ``kind`` byte; the low nibble is the quantizer, bit 4 flags a
per-channel step (one float32 per slice of axis 0):

=========== ===== ======================================================================
kind        value payload after the kind byte
=========== ===== ======================================================================
ZERO          0   nothing (all levels zero; only in updates, where the shape is known)
INTEGER       1   entropy-coded integer tensor (lossless: integer/bool tensors)
UNIFORM       2   step, entropy-coded levels ``q``; reconstruction ``q * step``
TRELLIS       3   step, entropy-coded trellis levels; reconstruction ``m(q) * step``
=========== ===== ======================================================================

``step`` is a float32 (or, per channel, a uvarint count and that many float32). Encoder and
decoder rebuild tensors with the same function, :func:`rebuild`, so reconstructions agree bit
for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from nmc.bitstream.fields import FieldReader, FieldWriter
from nmc.entropy import encode_tensor
from nmc.errors import BitstreamError, InputError
from nmc.weights.levels import checked_decode_tensor, decode_levels, encode_levels
from nmc.weights.quantize import MAX_ABS_LEVEL, dequantize
from nmc.weights.rdoq import rdo_quantize
from nmc.weights.trellis import trellis_multipliers, trellis_quantize

ZERO, INTEGER, UNIFORM, TRELLIS = 0, 1, 2, 3
PER_CHANNEL = 0x10
QUANTIZERS = ("uniform", "trellis")

DTYPES = (
    torch.float32,
    torch.float16,
    torch.bfloat16,
    torch.float64,
    torch.bool,
    torch.uint8,
    torch.int8,
    torch.int16,
    torch.int32,
    torch.int64,
)


@dataclass(frozen=True)
class CodingConfig:
    """How float tensors become integer levels.

    Attributes:
        quantizer: ``"uniform"`` (levels ``round(x / step)``, reconstruction ``q * step``) or
            ``"trellis"`` (dependent quantization, see :mod:`nmc.weights.trellis`; about 3 %
            fewer bits at equal error, slower to encode).
        rdo_lambda: rate–distortion multiplier in squared steps per bit (0 = minimize error
            only). With ``"uniform"`` it enables RDOQ (:mod:`nmc.weights.rdoq`).
    """

    quantizer: str = "uniform"
    rdo_lambda: float = 0.0

    def __post_init__(self) -> None:
        if self.quantizer not in QUANTIZERS:
            raise InputError(f"quantizer must be one of {QUANTIZERS}, got {self.quantizer!r}")
        if not self.rdo_lambda >= 0:
            raise InputError(f"rdo_lambda must be >= 0, got {self.rdo_lambda}")


@dataclass(frozen=True)
class Record:
    """A tensor's quantized form: ``kind`` (with the PER_CHANNEL flag), float32 step, levels."""

    kind: int
    step: torch.Tensor | None
    levels: torch.Tensor | None


def dtype_code(dtype: torch.dtype, name: str) -> int:
    """Index of ``dtype`` in :data:`DTYPES`; InputError for dtypes that cannot be coded."""
    if dtype not in DTYPES:
        raise InputError(f"tensor {name!r} has dtype {dtype}, which nmc.weights cannot code")
    return DTYPES.index(dtype)


def as_step(value: object, x: torch.Tensor, name: str) -> torch.Tensor:
    """float32 step for ``x``: 0-d (per tensor) or 1-D with ``x.shape[0]`` entries (per channel)."""
    try:
        step = torch.as_tensor(value, dtype=torch.float32).detach().cpu()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InputError(f"step for {name!r} must be a number or a 1-D tensor") from exc
    if step.numel() == 1:
        step = step.reshape(())
    elif step.ndim != 1 or x.ndim == 0 or step.numel() != x.shape[0]:
        raise InputError(
            f"per-channel step for {name!r} needs {x.shape[0] if x.ndim else 1} entries "
            f"(one per slice of axis 0), got shape {tuple(step.shape)}"
        )
    if not bool(torch.isfinite(step).all()) or bool((step <= 0).any()):
        raise InputError(f"step for {name!r} must be finite and positive")
    return step


def make_record(x: torch.Tensor, step: torch.Tensor | None, config: CodingConfig) -> Record:
    """Quantize ``x`` (float: with ``step``; integer/bool: losslessly) into a :class:`Record`."""
    if not x.is_floating_point():
        return Record(INTEGER, None, x.detach().cpu())
    assert step is not None
    axis = 0 if step.ndim == 1 else None
    flag = PER_CHANNEL if axis is not None else 0
    xf = x.detach().cpu().float()
    if not bool(torch.isfinite(xf).all()):
        raise InputError("tensor holds NaN or infinite values; they cannot be quantized")
    if config.quantizer == "trellis":
        scaled = xf if axis is None else xf / _column(step, xf)
        levels = trellis_quantize(scaled, float(step) if axis is None else 1.0, config.rdo_lambda)
        if levels.numel() and int(levels.abs().max()) > MAX_ABS_LEVEL // 2:
            raise InputError("step too small for the trellis quantizer; use a larger step")
        return Record(TRELLIS | flag, step, levels)
    levels = rdo_quantize(xf, step, config.rdo_lambda, axis)
    return Record(UNIFORM | flag, step, levels)


def _column(step: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return step.reshape([-1] + [1] * (x.ndim - 1))


def rebuild(record: Record, base: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor:
    """The decoded tensor: ``base`` (or zero) plus the dequantized levels, cast to ``dtype``.

    Float kinds compute in float32 (``base.float() + q.float() * step``); INTEGER adds in int64.
    """
    kind = record.kind & 0x0F
    if kind == INTEGER:
        levels = record.levels
        if base is None:
            return levels.to(dtype)
        return (base.to(torch.int64) + levels.to(torch.int64)).to(dtype)
    if kind == ZERO:
        assert base is not None
        return (base.to(torch.float32) + 0.0).to(dtype) if dtype.is_floating_point else base.clone()
    levels = record.levels if kind == UNIFORM else trellis_multipliers(record.levels)
    axis = 0 if record.kind & PER_CHANNEL else None
    delta = dequantize(levels, record.step, axis)
    return (delta if base is None else base.to(torch.float32) + delta).to(dtype)


def write_record(out: FieldWriter, record: Record) -> None:
    """Append ``record`` (kind byte, step, entropy-coded levels) to ``out``."""
    out.u8(record.kind)
    kind = record.kind & 0x0F
    if kind == ZERO:
        return
    if kind == INTEGER:
        out.blob(encode_tensor(record.levels))
        return
    if record.kind & PER_CHANNEL:
        out.array(record.step.numpy(), "float32")
    else:
        out.f32(float(record.step))
    out.blob(encode_levels(record.levels.numpy()))


def read_record(src: FieldReader, dtype: torch.dtype, shape: tuple[int, ...] | None) -> Record:
    """Read a record written by :func:`write_record`.

    ``shape`` is the expected shape when the reader knows it (updates); ``None`` takes the
    shape from the coded levels. Raises BitstreamError on anything inconsistent.
    """
    kind_byte = src.u8()
    kind = kind_byte & 0x0F
    per_channel = bool(kind_byte & PER_CHANNEL)
    if kind_byte & ~(0x0F | PER_CHANNEL) or kind > TRELLIS or (per_channel and kind < UNIFORM):
        raise BitstreamError(f"{src.what}: unknown record kind {kind_byte}")
    if kind == ZERO:
        if shape is None:
            raise BitstreamError(f"{src.what}: an all-zero record needs a known shape")
        return Record(ZERO, None, None)
    if (kind == INTEGER) == dtype.is_floating_point:
        raise BitstreamError(f"{src.what}: record kind {kind} does not fit dtype {dtype}")
    step = None
    if kind != INTEGER:
        raw = src.array("float32") if per_channel else np.array(src.f32(), dtype=np.float32)
        step = torch.from_numpy(np.array(raw, dtype=np.float32))
        if not bool(torch.isfinite(step).all()) or bool((step <= 0).any()):
            raise BitstreamError(f"{src.what}: invalid quantization step")
    levels = _decode_levels(src, kind, dtype)
    if shape is not None and tuple(levels.shape) != tuple(shape):
        raise BitstreamError(
            f"{src.what}: coded shape {tuple(levels.shape)} differs from expected {tuple(shape)}"
        )
    if per_channel and (levels.ndim == 0 or step.numel() != levels.shape[0]):
        raise BitstreamError(f"{src.what}: per-channel step count does not match the tensor")
    return Record(kind_byte, step, levels)


def _decode_levels(src: FieldReader, kind: int, dtype: torch.dtype) -> torch.Tensor:
    data = src.blob()
    if kind == INTEGER:
        array = checked_decode_tensor(data, src.what)
        expected = torch.empty(0, dtype=dtype).numpy().dtype
        if array.dtype not in (expected, np.dtype(np.int64)):
            raise BitstreamError(f"{src.what}: coded dtype {array.dtype} does not fit {dtype}")
        return torch.from_numpy(np.array(array))
    array = decode_levels(data, src.what)
    if array.dtype.kind not in "iu" or (array.size and np.abs(array).max() > MAX_ABS_LEVEL):
        raise BitstreamError(f"{src.what}: quantization levels out of range")
    return torch.from_numpy(np.array(array, dtype=np.int64))
