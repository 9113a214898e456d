"""A whole ``state_dict`` as plain bytes: names, dtypes, steps and entropy-coded levels.

Payload layout (little-endian; the video codec stores it inside its own container chunks)::

    tag:u8 = 0x57 ('W')   version:u8 = 1   count:uvarint
    count × { name:text   dtype:u8   record (see nmc.weights.records) }

Float tensors are quantized with their step (levels ``round(x / step)`` by default); integer and
bool tensors (e.g. ``num_batches_tracked``) are coded losslessly.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from nmc.bitstream.fields import FieldReader, FieldWriter
from nmc.errors import BitstreamError, InputError
from nmc.weights.records import (
    DTYPES,
    CodingConfig,
    as_step,
    dtype_code,
    make_record,
    read_record,
    rebuild,
    write_record,
)

STATE_DICT_TAG = 0x57
PAYLOAD_VERSION = 1

StepSpec = float | torch.Tensor | Mapping[str, float | torch.Tensor]


def step_for(step: StepSpec, name: str, x: torch.Tensor) -> torch.Tensor | None:
    """The float32 step of tensor ``name`` (None for integer tensors, which are lossless)."""
    if not x.is_floating_point():
        return None
    if isinstance(step, Mapping):
        if name not in step:
            raise InputError(f"no quantization step given for float tensor {name!r}")
        return as_step(step[name], x, name)
    return as_step(step, x, name)


def check_tensor(name: object, x: object) -> torch.Tensor:
    """``x`` as a CPU tensor with a codable dtype, or InputError naming ``name``."""
    if not isinstance(name, str):
        raise InputError(f"tensor names must be strings, got {type(name).__name__}")
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{name!r} must be a torch.Tensor, got {type(x).__name__}")
    dtype_code(x.dtype, name)
    return x.detach().cpu()


def encode_state_dict(
    tensors: Mapping[str, torch.Tensor],
    step: StepSpec,
    *,
    config: CodingConfig | None = None,
) -> tuple[bytes, dict[str, torch.Tensor]]:
    """Quantize and entropy-code a state_dict.

    Args:
        tensors: name -> tensor (float16/32/64, bfloat16, integer or bool; any shape).
        step: quantization step for every float tensor, or a mapping name -> step; a step may
            be a 1-D tensor with one entry per slice of axis 0 (per output channel). Steps are
            stored (and applied) as float32.
        config: quantizer choice (default: uniform rounding, ``q = round(x / step)``).

    Returns:
        ``(payload, reconstruction)``: the bytes, and name -> tensor exactly as
        :func:`decode_state_dict` rebuilds it (``q.float() * step`` in float32, then cast back
        to the tensor's dtype; integer tensors unchanged).
    """
    config = config or CodingConfig()
    out = FieldWriter().u8(STATE_DICT_TAG).u8(PAYLOAD_VERSION).uvarint(len(tensors))
    recon: dict[str, torch.Tensor] = {}
    for name, value in tensors.items():
        x = check_tensor(name, value)
        record = make_record(x, step_for(step, name, x), config)
        out.text(name).u8(dtype_code(x.dtype, name))
        write_record(out, record)
        recon[name] = rebuild(record, None, x.dtype)
    return out.getvalue(), recon


def decode_state_dict(payload: bytes) -> dict[str, torch.Tensor]:
    """Rebuild the tensors coded by :func:`encode_state_dict` (BitstreamError on bad bytes)."""
    src = FieldReader(bytes(payload), "weights payload")
    if src.u8() != STATE_DICT_TAG:
        raise BitstreamError("weights payload: not a state_dict payload")
    if src.u8() != PAYLOAD_VERSION:
        raise BitstreamError("weights payload: unknown version (written by a newer nmc?)")
    count = src.bounded_uvarint(src.remaining, "tensor count")
    result: dict[str, torch.Tensor] = {}
    for _ in range(count):
        name = src.text()
        if name in result:
            raise BitstreamError(f"weights payload: tensor {name!r} appears twice")
        code = src.u8()
        if code >= len(DTYPES):
            raise BitstreamError(f"weights payload: unknown dtype code {code} for {name!r}")
        src.what = f"weights payload, tensor {name!r}"
        result[name] = rebuild(read_record(src, DTYPES[code], None), None, DTYPES[code])
    src.what = "weights payload"
    src.expect_end()
    return result
