"""A weight update (new − reference) as plain bytes; unchanged tensors cost one byte.

The decoder already holds the reference state_dict, so names, shapes and dtypes are not sent:
the payload carries which of the reference's tensors it updates (a bit mask over the sorted
names) and a CRC32 of their names, dtypes and shapes, which the decoder checks against its own
reference before it touches any data. Layout (little-endian)::

    tag:u8 = 0x55 ('U')   version:u8 = 1   reference_count:uvarint
    mask: ceil(reference_count / 8) bytes (bit i of byte i//8 = i-th sorted name is coded)
    signature:u32          records (see nmc.weights.records), in sorted-name order

A tensor whose levels are all zero is a single ZERO byte.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

import numpy as np
import torch

from nmc.bitstream.fields import FieldReader, FieldWriter
from nmc.errors import BitstreamError, InputError
from nmc.weights.records import (
    ZERO,
    CodingConfig,
    Record,
    make_record,
    read_record,
    rebuild,
    write_record,
)
from nmc.weights.state_dict import StepSpec, check_tensor, step_for

UPDATE_TAG = 0x55
PAYLOAD_VERSION = 1


def _signature(names: list[str], reference: Mapping[str, torch.Tensor]) -> int:
    text = "\n".join(f"{n}\t{reference[n].dtype}\t{tuple(reference[n].shape)}" for n in names)
    return zlib.crc32(text.encode("utf-8"))


def _delta_record(
    new: torch.Tensor, ref: torch.Tensor, step: torch.Tensor | None, config: CodingConfig
) -> Record:
    if new.is_floating_point():
        delta = new.float() - ref.float()
    else:
        delta = new.to(torch.int64) - ref.to(torch.int64)
    record = make_record(delta, step, config)
    if record.levels is not None and not bool(record.levels.any()):
        return Record(ZERO, None, None)
    return record


def encode_update(
    new: Mapping[str, torch.Tensor],
    reference: Mapping[str, torch.Tensor],
    step: StepSpec,
    *,
    config: CodingConfig | None = None,
) -> tuple[bytes, dict[str, torch.Tensor]]:
    """Code the step from ``reference`` to ``new``.

    Args:
        new: name -> tensor; every name must be in ``reference`` with the same shape and dtype
            (a subset is fine: the others are not sent).
        reference: the state_dict the decoder already holds.
        step: step for every float tensor, or name -> step (scalar or per-channel 1-D tensor);
            stored as float32.
        config: quantizer choice (default: ``q = round((new - reference) / step)``).

    Returns:
        ``(payload, reconstruction)``; ``reconstruction[name] = reference + q.float() * step``
        computed in float32 and cast to the tensor's dtype, exactly as :func:`decode_update`
        rebuilds it. Integer tensors are updated losslessly.
    """
    config = config or CodingConfig()
    ref_names = sorted(reference)
    for name, value in new.items():
        x = check_tensor(name, value)
        if name not in reference:
            raise InputError(f"tensor {name!r} is not in the reference state_dict")
        ref = reference[name]
        if ref.shape != x.shape or ref.dtype != x.dtype:
            raise InputError(
                f"{name!r}: shape/dtype {tuple(x.shape)}/{x.dtype} differs from the reference "
                f"{tuple(ref.shape)}/{ref.dtype}"
            )
    coded = [n for n in ref_names if n in new]
    mask = np.zeros(len(ref_names), dtype=bool)
    mask[[ref_names.index(n) for n in coded]] = True
    out = FieldWriter().u8(UPDATE_TAG).u8(PAYLOAD_VERSION).uvarint(len(ref_names))
    out.raw(np.packbits(mask, bitorder="little").tobytes()).u32(_signature(coded, reference))
    recon: dict[str, torch.Tensor] = {}
    for name in coded:
        x, ref = new[name].detach().cpu(), reference[name].detach().cpu()
        record = _delta_record(x, ref, step_for(step, name, x), config)
        write_record(out, record)
        recon[name] = rebuild(record, ref, x.dtype)
    return out.getvalue(), {name: recon[name] for name in new}


def decode_update(payload: bytes, reference: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rebuild the updated tensors (name -> tensor, only the names that were coded).

    Raises:
        InputError: ``reference`` is not the state_dict the update was made against (other
            tensor count, names, shapes or dtypes).
        BitstreamError: the payload is damaged or not an update payload.
    """
    src = FieldReader(bytes(payload), "weight update payload")
    if src.u8() != UPDATE_TAG:
        raise BitstreamError("weight update payload: not an update payload")
    if src.u8() != PAYLOAD_VERSION:
        raise BitstreamError("weight update payload: unknown version (written by a newer nmc?)")
    ref_names = sorted(reference)
    count = src.uvarint()
    if count != len(ref_names):
        raise InputError(
            f"the update was made against a state_dict of {count} tensors, the reference given "
            f"has {len(ref_names)}: pass the same reference the encoder used"
        )
    bits = np.frombuffer(src.raw((count + 7) // 8), dtype=np.uint8)
    mask = np.unpackbits(bits, count=count, bitorder="little").astype(bool)
    coded = [n for n, m in zip(ref_names, mask) if m]
    if src.u32() != _signature(coded, reference):
        raise InputError(
            "the reference state_dict does not match the update (tensor names, shapes or dtypes "
            "differ): pass the same reference the encoder used"
        )
    result: dict[str, torch.Tensor] = {}
    for name in coded:
        ref = check_tensor(name, reference[name])
        src.what = f"weight update payload, tensor {name!r}"
        record = read_record(src, ref.dtype, tuple(ref.shape))
        result[name] = rebuild(record, ref, ref.dtype)
    src.what = "weight update payload"
    src.expect_end()
    return result
