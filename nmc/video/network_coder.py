"""Compact coding of a frame model's networks (synthesis, context): integers times a step.

The decoder knows every tensor's name and shape from the codec header, so a payload holds only
numbers: per module (``synthesis``, ``context``) the step exponent ``e`` (step = ``2^-e``), then
the integers of every tensor, each tensor with the zero-mean Laplace of its own scale
(:func:`nmc.entropy.laplace.encode_groups`, escapes for large values). The integers code the
difference to a *base* both sides know (the shipped network prior, :mod:`nmc.video.prior`, or
zero): a value is rebuilt as ``base + q * 2^-e`` in float32, exactly on both sides.

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
    tensors: Mapping[str, torch.Tensor],
    exponents: Mapping[str, int],
    base: Mapping[str, torch.Tensor] | None = None,
) -> tuple[bytes, State]:
    """Quantize and code network tensors.

    Args:
        tensors: name -> float tensor, in the order the decoder's template lists them.
        exponents: module prefix -> step exponent ``e`` (step ``2^-e``), 0..MAX_EXPONENT.
        base: name -> float32 CPU tensor the integers are relative to (None: zero).

    Returns:
        ``(payload, reconstruction)`` with ``reconstruction[name] = base + q * 2^-e``
        (float32).
    """
    out = FieldWriter()
    for prefix in MODULES:
        out.u8(exponents[prefix])
    groups, recon = [], {}
    for name, tensor in tensors.items():
        step = 2.0 ** -exponents[module_of(name)]
        origin = _origin(base, name, tensor.shape)
        q = torch.round((tensor.detach().float() - origin) / step).to(torch.int64)
        recon[name] = origin + q.float() * step
        groups.append(q.reshape(-1).numpy())
    return out.raw(encode_groups(groups)).getvalue(), recon


def decode_networks(
    payload: bytes, shapes: Shapes, base: Mapping[str, torch.Tensor] | None = None
) -> State:
    """Rebuild the tensors of :func:`encode_networks` (``shapes``: name -> shape, in the
    encoder's order; ``base`` as the encoder's); damaged data raises :class:`BitstreamError`."""
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
        step = 2.0 ** -exponents[module_of(name)]
        state[name] = _origin(base, name, shape) + q.float() * step
    return state


def _origin(
    base: Mapping[str, torch.Tensor] | None, name: str, shape: tuple[int, ...]
) -> torch.Tensor:
    """The base value of tensor ``name`` (float32 CPU), zero without a base."""
    if base is None:
        return torch.zeros(shape)
    return base[name]
