"""Entropy coding of quantization levels with row × column magnitude contexts.

Weight matrices have rows (output channels) and columns (input features) of very different
scales; an order-0 model spends bits on that spread. Here a level ``q[i, j]`` of the matrix view
``[shape[0], prod(shape[1:])]`` is coded under the context

.. math:: c_{ij} = \\rho_i + \\gamma_j, \\qquad
          \\rho_i = \\lfloor R \\log_2(\\overline{|q_{i\\cdot}|} + \\epsilon) \\rceil, \\;
          \\gamma_j = \\lfloor R \\log_2(\\overline{|q_{\\cdot j}|} + \\epsilon) \\rceil

i.e. a rank-1 (row scale × column scale) model of the expected magnitude, quantized to ``1/R``
octave. The classes ρ, γ travel as side information; magnitudes go through
:func:`nmc.entropy.encode_symbols` (adaptive per-context tables), large magnitudes escape to
:func:`nmc.entropy.encode_tensor`, signs are raw bits.

Payload: ``mode:u8``, then

* mode 0 (:data:`PLAIN`, vectors and scalars): one ``encode_tensor`` blob;
* mode 1 (:data:`CONTEXT`): ``ndim:uvarint dims:uvarint* escape:uvarint`` and five blobs: row
  classes, column classes, magnitudes, escapes, sign bits (the last three in the scattered
  order of :func:`coding_order`);
* mode 2 (:data:`FLAT`): ``ndim dims`` and the ``encode_tensor`` blob of the flattened levels.

For matrices the encoder codes modes 1 and 2 and keeps the smaller.
"""

from __future__ import annotations

import math

import numpy as np

from nmc.bitstream.fields import FieldReader, FieldWriter
from nmc.entropy import decode_symbols, decode_tensor, encode_symbols, encode_tensor
from nmc.errors import BitstreamError, NmcError

PLAIN, CONTEXT, FLAT = 0, 1, 2
RESOLUTION = 4
_EPS = 0.05
_MAX_ALPHABET = 4096
_MAX_CONTEXTS = 4096
_MAX_NDIM = 32
_MAX_ELEMENTS = 1 << 28


def _classes(mean_abs: np.ndarray) -> np.ndarray:
    return np.round(RESOLUTION * np.log2(mean_abs + _EPS)).astype(np.int64)


def _contexts(rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, int]:
    """Context per element (row-major) and the number of contexts."""
    r = rows - rows.min()
    c = cols - cols.min()
    count = int(r.max() + c.max() + 1)
    return (r[:, None] + c[None, :]).reshape(-1), count


def coding_order(count: int) -> np.ndarray:
    """A fixed scatter permutation of ``range(count)``: ``i * p mod count``, ``p`` ≈ 0.618 count.

    The adaptive tables of :func:`~nmc.entropy.encode_symbols` learn from earlier blocks only,
    so a context first seen late in a scan (rows sorted by scale, say) would be coded with its
    prior for a whole block; scattering the scan makes every context appear early.
    """
    stride = int(count * 0.6180339887) | 1
    while math.gcd(stride, count) != 1:
        stride += 2
    return (np.arange(count, dtype=np.int64) * stride) % max(count, 1)


def _escape_threshold(mag: np.ndarray) -> int:
    """Smallest magnitude sent as an escape: past the 99.99th percentile, within the alphabet."""
    top = int(np.quantile(mag, 0.9999)) + 2 if mag.size else 2
    return int(min(max(top, 2), _MAX_ALPHABET - 1))


def _encode_context(q: np.ndarray) -> bytes | None:
    matrix = q.reshape(q.shape[0], -1).astype(np.int64)
    mag = np.abs(matrix)
    rows, cols = _classes(mag.mean(axis=1)), _classes(mag.mean(axis=0))
    contexts, count = _contexts(rows, cols)
    if count > _MAX_CONTEXTS:
        return None
    escape = _escape_threshold(mag)
    order = coding_order(mag.size)
    flat = mag.reshape(-1)[order]
    contexts = contexts[order]
    out = FieldWriter().u8(CONTEXT).uvarint(q.ndim)
    for dim in q.shape:
        out.uvarint(dim)
    out.uvarint(escape)
    out.blob(encode_tensor(rows)).blob(encode_tensor(cols))
    out.blob(encode_symbols(np.minimum(flat, escape), contexts, escape + 1, count))
    out.blob(encode_tensor(flat[flat >= escape] - escape))
    out.blob(np.packbits(matrix.reshape(-1)[order][flat > 0] < 0).tobytes())
    return out.getvalue()


def encode_levels(q: np.ndarray) -> bytes:
    """Code integer levels (numpy int array, any shape) losslessly, with the cheapest mode."""
    q = np.asarray(q)
    candidates = []
    if q.ndim >= 2 and q.size:
        candidates.append(_encode_context(q))
    if q.ndim >= 2:
        # one model for the whole matrix: the context mode already adapts to rows, and
        # encode_tensor's own per-row model search costs much time for no gain on weights
        flat = FieldWriter().u8(FLAT).uvarint(q.ndim)
        for dim in q.shape:
            flat.uvarint(dim)
        candidates.append(flat.blob(encode_tensor(q.reshape(-1))).getvalue())
    else:
        candidates.append(FieldWriter().u8(PLAIN).blob(encode_tensor(q)).getvalue())
    return min((c for c in candidates if c is not None), key=len)


def _read_shape(src: FieldReader) -> tuple[int, ...]:
    ndim = src.bounded_uvarint(_MAX_NDIM, "ndim")
    shape = tuple(src.bounded_uvarint(_MAX_ELEMENTS, "dimension") for _ in range(ndim))
    if math.prod(shape) > _MAX_ELEMENTS:
        raise BitstreamError(f"{src.what}: tensor larger than {_MAX_ELEMENTS} elements")
    return shape


def checked_decode_tensor(blob: bytes, what: str) -> np.ndarray:
    """:func:`nmc.entropy.decode_tensor` that raises only BitstreamError (naming ``what``)."""
    try:
        return decode_tensor(blob)
    except NmcError as exc:
        raise BitstreamError(f"{what}: {exc}") from exc
    except (ValueError, TypeError, IndexError, OverflowError, RuntimeError) as exc:
        raise BitstreamError(f"{what}: damaged tensor payload ({exc})") from exc


def decode_levels(data: bytes, what: str = "levels") -> np.ndarray:
    """Inverse of :func:`encode_levels` (BitstreamError on damaged bytes)."""
    src = FieldReader(data, what)
    mode = src.u8()
    if mode == PLAIN:
        out = checked_decode_tensor(src.blob(), what)
    elif mode == FLAT:
        shape = _read_shape(src)
        out = checked_decode_tensor(src.blob(), what)
        if out.ndim != 1 or out.size != math.prod(shape):
            raise BitstreamError(f"{what}: flattened levels do not match the shape")
        out = out.reshape(shape)
    elif mode == CONTEXT:
        out = _decode_context(src, what)
    else:
        raise BitstreamError(f"{what}: unknown levels mode {mode}")
    src.expect_end()
    return out


def _decode_context(src: FieldReader, what: str) -> np.ndarray:
    shape = _read_shape(src)
    if len(shape) < 2 or math.prod(shape) == 0:
        raise BitstreamError(f"{what}: context mode needs a non-empty matrix")
    n_rows, n_cols = shape[0], math.prod(shape[1:])
    escape = src.bounded_uvarint(_MAX_ALPHABET - 1, "escape threshold")
    rows, cols = checked_decode_tensor(src.blob(), what), checked_decode_tensor(src.blob(), what)
    if rows.shape != (n_rows,) or cols.shape != (n_cols,) or escape < 2:
        raise BitstreamError(f"{what}: context classes do not match the shape")
    rows, cols = rows.astype(np.int64), cols.astype(np.int64)
    if int(rows.max() - rows.min()) + int(cols.max() - cols.min()) + 1 > _MAX_CONTEXTS:
        raise BitstreamError(f"{what}: too many contexts")
    contexts, count = _contexts(rows, cols)
    order = coding_order(contexts.size)
    try:
        mag = decode_symbols(src.blob(), contexts[order], escape + 1, count)
    except NmcError as exc:
        raise BitstreamError(f"{what}: {exc}") from exc
    big = checked_decode_tensor(src.blob(), what)
    at = np.flatnonzero(mag == escape)
    if big.shape != (at.size,) or (big.size and big.min() < 0):
        raise BitstreamError(f"{what}: escape values do not match")
    mag[at] += big.astype(np.int64)
    nonzero = np.flatnonzero(mag)
    signs = np.frombuffer(src.blob(), dtype=np.uint8)
    if signs.size != (nonzero.size + 7) // 8:
        raise BitstreamError(f"{what}: sign bits do not match the levels")
    negative = np.unpackbits(signs, count=nonzero.size).astype(bool)
    mag[nonzero[negative]] *= -1
    out = np.empty_like(mag)
    out[order] = mag
    return out.reshape(shape)
