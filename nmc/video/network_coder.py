"""Compact coding of a frame model's networks (synthesis, context): integers times a step.

The decoder knows every tensor's name and shape from the codec header, so a payload holds only
numbers: per module (``synthesis``, ``context``) the step exponent ``e`` (step = ``2^-e``), then
the integers of every tensor, each tensor with the zero-mean Laplace of its own scale
(:func:`nmc.entropy.laplace.encode_groups`, escapes for large values). A value is rebuilt as
``q * 2^-e`` in float32, exactly on both sides.

Payload::

    per module: exponent:u8      encode_groups payload (one group per tensor, in order)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from nmc.bitstream import FieldReader, FieldWriter
from nmc.entropy.laplace import decode_groups, encode_groups
from nmc.errors import BitstreamError

MODULES = ("synthesis.", "context.")
MAX_EXPONENT = 24

Shapes = Mapping[str, tuple[int, ...]]
State = dict[str, torch.Tensor]


def module_of(name: str) -> str:
    """The module prefix (one of :data:`MODULES`) of a network tensor name."""
    for prefix in MODULES:
        if name.startswith(prefix):
            return prefix
    raise ValueError(f"{name!r} is not a network tensor")


def encode_networks(
    tensors: Mapping[str, torch.Tensor], exponents: Mapping[str, int]
) -> tuple[bytes, State]:
    """Quantize and code network tensors.

    Args:
        tensors: name -> float tensor, in the order the decoder's template lists them.
        exponents: module prefix -> step exponent ``e`` (step ``2^-e``), 0..MAX_EXPONENT.

    Returns:
        ``(payload, reconstruction)`` with ``reconstruction[name] = q * 2^-e`` (float32).
    """
    out = FieldWriter()
    for prefix in MODULES:
        out.u8(exponents[prefix])
    groups, recon = [], {}
    for name, tensor in tensors.items():
        step = 2.0 ** -exponents[module_of(name)]
        q = torch.round(tensor.detach().float() / step).to(torch.int64)
        recon[name] = q.float() * step
        groups.append(q.reshape(-1).numpy())
    return out.raw(encode_groups(groups)).getvalue(), recon


def decode_networks(payload: bytes, shapes: Shapes) -> State:
    """Rebuild the tensors of :func:`encode_networks` (``shapes``: name -> shape, in the
    encoder's order); damaged data raises :class:`BitstreamError`."""
    src = FieldReader(payload, "networks payload")
    exponents = {}
    for prefix in MODULES:
        exponents[prefix] = src.u8()
        if exponents[prefix] > MAX_EXPONENT:
            raise BitstreamError(f"networks payload: step exponent {exponents[prefix]} too large")
    sizes = [int(np.prod(shape, dtype=np.int64)) for shape in shapes.values()]
    groups = decode_groups(src.raw(src.remaining), sizes, "networks payload")
    state = {}
    for (name, shape), values in zip(shapes.items(), groups):
        q = torch.from_numpy(values.copy()).reshape(shape)
        state[name] = q.float() * 2.0 ** -exponents[module_of(name)]
    return state
