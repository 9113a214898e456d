"""Discretized Laplace laws as a fixed bank of rANS tables, chosen per symbol by (mean, scale).

For models that predict a Laplace law per value (a context model of latents) or fit one per
group of values (network weights): a value ``v`` with law ``Laplace(mu, b)`` is coded as
``s = v - base`` where ``round(mu * offsets) = base * offsets + k``, with the table of scale bin
``j`` (``scale_bins`` log-spaced scales in ``[min_scale, max_scale]``) centred at ``k / offsets``.
Symbols cover ``s`` in ``[-half, half]``; one extra *escape* symbol stands for any other value,
which then travels as a signed varint beside the stream. Tables are built once, in float64,
from fixed constants, and quantized with integer arithmetic (:func:`quantize_weights`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nmc.bitstream.fields import FieldReader, FieldWriter
from nmc.entropy.rans import RansStreamDecoder, cdf_lists, quantize_weights, rans_encode
from nmc.entropy.stream import StreamReader, SymbolSink, Tables, ideal_bits
from nmc.errors import BitstreamError

_WEIGHT_SCALE = float(1 << 24)
MAX_ESCAPE_BYTES = 10
"""Longest escaped value in a shared stream (a zigzag varint of a 64-bit integer), in bytes."""


@dataclass(frozen=True)
class LaplaceBank:
    """A bank of ``scale_bins * offsets`` tables over ``2 * half + 2`` symbols (escape last)."""

    min_scale: float
    max_scale: float
    scale_bins: int = 64
    offsets: int = 16
    half: int = 63

    @functools.cached_property
    def freqs(self) -> np.ndarray:
        """int64 ``[scale_bins * offsets, 2 * half + 2]``, rows summing to 2**16."""
        scales = np.exp(np.linspace(math.log(self.min_scale), math.log(self.max_scale),
                                    self.scale_bins))  # fmt: skip
        values = np.arange(-self.half, self.half + 1, dtype=np.float64)
        rows = []
        for b in scales:
            for k in range(self.offsets):
                lower = _cdf(values - k / self.offsets - 0.5, b)
                upper = _cdf(values - k / self.offsets + 0.5, b)
                tail = 1.0 - (upper[-1] - lower[0])
                p = np.append(upper - lower, tail)
                rows.append(np.floor(p * _WEIGHT_SCALE).astype(np.int64) + 1)
        return quantize_weights(np.stack(rows))

    @functools.cached_property
    def cdfs(self) -> tuple[list[list[int]], list[int]]:
        """The tables as the rANS coder takes them (:func:`cdf_lists`), converted once."""
        return cdf_lists(self.freqs)

    def scale_bin(self, scale: np.ndarray) -> np.ndarray:
        """int64 bin of each scale (clipped to the bank's range)."""
        span = math.log(self.max_scale / self.min_scale)
        position = (np.log(scale) - math.log(self.min_scale)) / span * (self.scale_bins - 1)
        return np.clip(np.rint(position), 0, self.scale_bins - 1).astype(np.int64)

    def choose(self, mu: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(base, table index)`` int64 for float64 laws ``(mu, scale)``."""
        steps = np.rint(np.asarray(mu, dtype=np.float64) * self.offsets).astype(np.int64)
        base, offset = np.divmod(steps, self.offsets)
        return base, self.scale_bin(scale) * self.offsets + offset

    def symbols(self, values: np.ndarray, base: np.ndarray) -> tuple[np.ndarray, list[int]]:
        """Symbols of int64 ``values`` and the list of escaped values (in order)."""
        s = values - base
        outside = np.abs(s) > self.half
        symbols = np.where(outside, 2 * self.half + 1, s + self.half)
        return symbols, values[outside].tolist()

    def encode(self, values: np.ndarray, base: np.ndarray, index: np.ndarray) -> bytes:
        """One stream: escapes as a blob of signed varints, then the rANS symbols."""
        symbols, escaped = self.symbols(values.astype(np.int64), base)
        out = FieldWriter().blob(_svarints(escaped))
        return out.getvalue() + rans_encode(symbols, index, self.freqs)

    def _used_tables(self, index: np.ndarray) -> tuple[np.ndarray, Tables]:
        """``(local index, the tables in use)``: passing a run only its tables keeps the
        coder's per-call conversion small."""
        used, local = np.unique(index, return_inverse=True)
        cdfs, sizes = self.cdfs
        return local.reshape(-1), (
            [cdfs[i] for i in used.tolist()],
            [sizes[i] for i in used.tolist()],
        )

    def write(
        self, sink: SymbolSink, values: np.ndarray, base: np.ndarray, index: np.ndarray
    ) -> None:
        """Append int64 ``values`` with laws ``(base, index)`` (:meth:`choose`) to a shared
        stream (:mod:`nmc.entropy.stream`): one run, then each escaped value as a zigzag
        varint of raw bytes."""
        symbols, escaped = self.symbols(np.asarray(values, np.int64), base)
        if not symbols.size:
            return
        local, tables = self._used_tables(index)
        sink.write(symbols, local, tables, ideal_bits(self.freqs[index, symbols]))
        sink.write_bytes(_svarints(escaped))

    def read(self, reader: StreamReader, base: np.ndarray, index: np.ndarray) -> np.ndarray:
        """The int64 values :meth:`write` appended with the same laws."""
        if not index.size:
            return np.zeros(0, dtype=np.int64)
        return self._values(
            reader.read(*self._used_tables(index)), base, lambda: _read_svarint(reader)
        )

    def _values(
        self, symbols: np.ndarray, base: np.ndarray, escaped: Callable[[], int]
    ) -> np.ndarray:
        """int64 values of decoded ``symbols`` around ``base``; ``escaped()`` gives the next
        escaped value, in coding order."""
        values = symbols - self.half + base
        for i in np.flatnonzero(symbols == 2 * self.half + 1).tolist():
            values[i] = escaped()
        return values


def _svarints(values: list[int]) -> bytes:
    """Signed varints of ``values`` (escaped values), in order."""
    out = FieldWriter()
    for v in values:
        out.svarint(v)
    return out.getvalue()


def _read_svarint(reader: StreamReader) -> int:
    """A zigzag varint (:meth:`FieldWriter.svarint`) from raw bytes of a shared stream."""
    raw = bytearray()
    while not raw or raw[-1] & 0x80:
        if len(raw) == MAX_ESCAPE_BYTES:
            raise BitstreamError(f"{reader.what}: escaped value too long (damaged stream)")
        raw += reader.read_bytes(1)
    value = FieldReader(bytes(raw), reader.what).svarint()
    if abs(value) >= 1 << 62:
        raise BitstreamError(f"{reader.what}: escaped value out of range (damaged stream)")
    return value


class LaplaceStreamDecoder:
    """Decode a :meth:`LaplaceBank.encode` stream pass by pass (``total`` values in all)."""

    def __init__(self, bank: LaplaceBank, data: bytes, total: int, what: str) -> None:
        src = FieldReader(data, what)
        self._escaped = FieldReader(src.blob(), what)
        self._bank = bank
        self._decoder = RansStreamDecoder(src.raw(src.remaining), total)
        self._what = what

    def decode(self, base: np.ndarray, index: np.ndarray) -> np.ndarray:
        """The next ``len(index)`` values (int64) with laws ``(base, index)`` from
        :meth:`LaplaceBank.choose`."""
        symbols = self._decoder.decode(*self._bank._used_tables(index))
        return self._bank._values(symbols, base, self._escaped.svarint)

    def finish(self) -> None:
        """Check that every escaped value was used (damaged data otherwise)."""
        if self._escaped.remaining:
            raise BitstreamError(f"{self._what}: unused escaped values (damaged data)")


def _cdf(x: np.ndarray, b: float) -> np.ndarray:
    """Laplace(0, b) CDF, float64, elementwise."""
    low = 0.5 * np.exp(np.minimum(x, 0.0) / b)
    return np.where(x < 0, low, 1.0 - 0.5 * np.exp(-np.maximum(x, 0.0) / b))


ZERO_MEAN = LaplaceBank(0.05, 4000.0, scale_bins=64, offsets=1, half=63)


def encode_groups(groups: list[np.ndarray], bank: LaplaceBank = ZERO_MEAN) -> bytes:
    """Code groups of integers, each with the zero-mean Laplace of its own fitted scale.

    Payload: one scale bin (u8) per group, then one :meth:`LaplaceBank.encode` stream. The
    decoder must know the group sizes (:func:`decode_groups`).
    """
    out, indexes = FieldWriter(), []
    for group in groups:
        scale = max(float(np.abs(group).mean()), bank.min_scale) if group.size else 1.0
        scale_bin = int(bank.scale_bin(np.array([scale]))[0])
        out.u8(scale_bin)
        indexes.append(np.full(group.size, scale_bin * bank.offsets, dtype=np.int64))
    values = np.concatenate([g.reshape(-1).astype(np.int64) for g in groups] or [np.zeros(0)])
    index = np.concatenate(indexes or [np.zeros(0, np.int64)])
    values = values.astype(np.int64)
    return out.getvalue() + bank.encode(values, np.zeros_like(values), index)


def decode_groups(
    data: bytes, sizes: list[int], what: str, bank: LaplaceBank = ZERO_MEAN
) -> list[np.ndarray]:
    """The int64 groups (flat, of the given sizes) coded by :func:`encode_groups`;
    damaged data raises :class:`BitstreamError`."""
    src = FieldReader(data, what)
    bins = [src.u8() for _ in sizes]
    if max(bins, default=0) >= bank.scale_bins:
        raise BitstreamError(f"{what}: scale bin out of range")
    index = np.concatenate(
        [np.full(n, b * bank.offsets, dtype=np.int64) for n, b in zip(sizes, bins)]
        or [np.zeros(0, np.int64)]
    )
    decoder = LaplaceStreamDecoder(bank, src.raw(src.remaining), index.size, what)
    values = decoder.decode(np.zeros_like(index), index)
    decoder.finish()
    return np.split(values, np.cumsum(sizes)[:-1]) if sizes else []
