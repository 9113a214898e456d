"""Lossless coding of integer tensors: pick the cheapest model per tensor or per channel, then rANS.

Payload layout (little-endian; see ``docs/bitstream.md`` § tensor payload)::

    format:u8 = 1   dtype:u8   ndim:uvarint   dims:uvarint*ndim
    layout:u8 (0 = one model, 1 = one model per channel)   [axis:uvarint if layout == 1]
    model*groups    escapes:blob (svarint values, in coding order)    rans:rest of payload

Groups are coded channel-major (the channel axis moved first). The encoder measures every
candidate model on the data (ideal code length + parameter and escape bytes) and keeps the
cheapest, so the side information is always paid for.
"""

from __future__ import annotations

import numpy as np

from nmc.bitstream.fields import FieldReader, FieldWriter
from nmc.entropy.models import (
    CONST,
    SymbolModel,
    candidates,
    code_cost_bits,
    histogram,
    symbols_of,
)
from nmc.entropy.rans import rans_decode, rans_encode
from nmc.errors import BitstreamError, InputError

TENSOR_FORMAT = 1
MAX_ELEMENTS = 1 << 28
MAX_NDIM = 32
_AUTO_MAX_CHANNELS = 256
_DTYPES = ("bool", "uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64")


def _as_int64(x: object) -> tuple[np.ndarray, str]:
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.dtype.name not in _DTYPES:
        raise InputError(f"encode_tensor takes integer or bool tensors, got dtype {arr.dtype}")
    if arr.size > MAX_ELEMENTS:
        raise InputError(f"tensor has {arr.size} elements; the limit is {MAX_ELEMENTS}")
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) >= 1 << 63:
        raise InputError("uint64 values must be below 2**63")
    return arr.astype(np.int64), arr.dtype.name


def _best_model(x: np.ndarray) -> tuple[SymbolModel, float]:
    if x.size == 0 or x.min() == x.max():
        return SymbolModel(CONST, center=int(x[0]) if x.size else 0), 8.0 * 2
    values, counts = histogram(x)
    costs = [
        (code_cost_bits(m, values, counts), i, m) for i, m in enumerate(candidates(values, counts))
    ]
    cost, _, model = min(costs)
    return model, cost


def _plan(groups: np.ndarray) -> tuple[list[SymbolModel], float]:
    models, total = [], 0.0
    for row in groups:
        model, cost = _best_model(row)
        models.append(model)
        total += cost
    return models, total


def encode_tensor(x: object, channel_axis: int | None = None) -> bytes:
    """Losslessly code an integer tensor; returns self-describing bytes.

    ``x``: numpy array or torch tensor of any integer or bool dtype and any shape (empty too),
    values anywhere in int64 (outliers are escape-coded). ``channel_axis``: also try one model
    per slice along this axis (when it is None and ndim >= 2, axis 0 is tried if it has at most
    256 slices: each slice's model search costs about 1 ms) and keep the
    cheaper layout. Round trip: ``decode_tensor(encode_tensor(x))`` equals ``x`` in dtype,
    shape and values.
    """
    values, dtype = _as_int64(x)
    if channel_axis is not None and not -values.ndim <= channel_axis < values.ndim:
        raise InputError(f"channel_axis {channel_axis} is out of range for {values.ndim} dims")
    flat = values.reshape(1, -1)
    models, cost = _plan(flat)
    layout, axis, groups = 0, 0, flat
    axis_try = channel_axis % values.ndim if channel_axis is not None else None
    if axis_try is None and values.ndim >= 2 and values.shape[0] <= _AUTO_MAX_CHANNELS:
        axis_try = 0
    if axis_try is not None and values.shape[axis_try] > 1 and values.size:
        per_channel = np.moveaxis(values, axis_try, 0).reshape(values.shape[axis_try], -1)
        channel_models, channel_cost = _plan(per_channel)
        if channel_cost < cost:
            models, layout, axis, groups = channel_models, 1, axis_try, per_channel

    out = FieldWriter().u8(TENSOR_FORMAT).u8(_DTYPES.index(dtype)).uvarint(values.ndim)
    for dim in values.shape:
        out.uvarint(dim)
    out.u8(layout)
    if layout:
        out.uvarint(axis)
    symbol_parts, table_parts, tables, escaped = [], [], [], FieldWriter()
    for model, row in zip(models, groups):
        model.write(out)
        if model.kind == CONST:
            continue
        symbols, outliers = symbols_of(model, row)
        symbol_parts.append(symbols)
        table_parts.append(np.full(symbols.size, len(tables), dtype=np.int64))
        tables.append(model.frequencies())
        for v in outliers.tolist():
            escaped.svarint(v)
    out.blob(escaped.getvalue())
    if tables:
        freqs = _stack_tables(tables)
        out.raw(rans_encode(np.concatenate(symbol_parts), np.concatenate(table_parts), freqs))
    return out.getvalue()


def _stack_tables(tables: list[np.ndarray]) -> np.ndarray:
    width = max(max(t.size for t in tables), 2)
    freqs = np.zeros((len(tables), width), dtype=np.int64)
    for i, t in enumerate(tables):
        freqs[i, : t.size] = t
    return freqs


def decode_tensor(data: bytes) -> np.ndarray:
    """Inverse of :func:`encode_tensor`; raises :class:`BitstreamError` on damaged bytes."""
    src = FieldReader(data, "tensor payload")
    if src.u8() != TENSOR_FORMAT:
        raise BitstreamError("tensor payload: unknown format (written by a newer nmc?)")
    dtype_code = src.u8()
    if dtype_code >= len(_DTYPES):
        raise BitstreamError("tensor payload: unknown dtype code")
    ndim = src.bounded_uvarint(MAX_NDIM, "ndim")
    shape = tuple(src.bounded_uvarint(MAX_ELEMENTS, "dimension") for _ in range(ndim))
    size = int(np.prod(shape, dtype=np.float64))
    if size > MAX_ELEMENTS:
        raise BitstreamError(f"tensor payload: {size} elements exceeds the limit {MAX_ELEMENTS}")
    layout = src.u8()
    if layout > 1 or (layout == 1 and ndim == 0):
        raise BitstreamError("tensor payload: unknown layout")
    axis = src.bounded_uvarint(ndim - 1, "channel axis") if layout else 0
    n_groups = shape[axis] if layout else 1
    if n_groups > src.remaining:
        raise BitstreamError("tensor payload: truncated model table")
    per_group = size // n_groups if n_groups else 0
    models = [SymbolModel.read(src) for _ in range(n_groups)]
    escapes = FieldReader(src.blob(), "tensor escapes")
    rans_bytes = src.raw(src.remaining)

    coded = [m for m in models if m.kind != CONST]
    groups = np.empty((n_groups, per_group), dtype=np.int64)
    if coded and per_group:
        tables = [m.frequencies() for m in coded]
        table_index = np.repeat(np.arange(len(coded), dtype=np.int64), per_group)
        symbols = rans_decode(rans_bytes, table_index, _stack_tables(tables)).reshape(
            len(coded), per_group
        )
    j = 0
    for g, model in enumerate(models):
        if model.kind == CONST:
            groups[g] = model.center
            continue
        row = symbols[j] + model.lo
        escape_at = np.flatnonzero(symbols[j] == model.span + 1)
        row[escape_at] = [escapes.svarint() for _ in range(escape_at.size)]
        groups[g] = row
        j += 1
    escapes.expect_end()
    dtype = np.dtype(_DTYPES[dtype_code])
    if groups.size:
        low, high = (0, 1) if dtype == np.bool_ else (np.iinfo(dtype).min, np.iinfo(dtype).max)
        if groups.min() < low or groups.max() > high:
            raise BitstreamError(f"tensor payload: decoded values do not fit {dtype}")
    if layout:
        moved = (shape[axis],) + shape[:axis] + shape[axis + 1 :]
        return np.moveaxis(groups.reshape(moved), 0, axis).astype(dtype)
    return groups.reshape(shape).astype(dtype)


def tensor_bits(x: object, channel_axis: int | None = None) -> int:
    """Measured size in bits of ``encode_tensor(x, channel_axis)`` (side information included)."""
    return 8 * len(encode_tensor(x, channel_axis))
