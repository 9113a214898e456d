"""Probability models for integer symbols, built from a few integers so both sides agree exactly.

Each model covers a contiguous value range ``[lo, lo + span]`` and, when some values fall
outside it, one extra *escape* symbol after the range (those values travel separately).
Frequencies are computed with fixed-point integer arithmetic only (no ``exp``), so the decoder
rebuilds bit-identical tables on any machine.

Families (``kind``): :data:`CONST` (a single value, no symbols coded), :data:`LAPLACE`
(two-sided geometric ``p(v) ∝ r^|v-c|``), :data:`GAUSSIAN` (``p(v) ∝ q^((v-c)^2)``),
:data:`HISTOGRAM` (the empirical frequencies, transmitted) and :data:`ZERO_AWARE` (a zero mass
``z`` plus a geometric law on the non-zero magnitudes, for sparse tensors).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nmc.bitstream.fields import FieldReader, FieldWriter
from nmc.entropy.rans import PRECISION_TOTAL, quantize_weights
from nmc.errors import BitstreamError

CONST, LAPLACE, GAUSSIAN, HISTOGRAM, ZERO_AWARE = 0, 1, 2, 3, 4
KIND_NAMES = {
    CONST: "const",
    LAPLACE: "laplace",
    GAUSSIAN: "gaussian",
    HISTOGRAM: "histogram",
    ZERO_AWARE: "zero-aware",
}
MAX_SPAN = 4095
_ONE = 1 << 31
_TAIL_LOG2 = 20.0


@dataclass(frozen=True)
class SymbolModel:
    """One group's model: family, value range, escape share and family parameters.

    ``lo``/``span``: the range ``[lo, lo + span]`` coded directly; ``escape`` (1/65536 units,
    0 = no escape symbol) is the probability share of out-of-range values; ``shape`` is the
    family parameter (``r`` or ``q`` in 1/2**31 units, or the zero share for ZERO_AWARE in its
    high 16 bits); ``center`` the mode; ``table`` the transmitted frequencies of HISTOGRAM.
    """

    kind: int
    lo: int = 0
    span: int = 0
    center: int = 0
    shape: int = 0
    zero: int = 0
    escape: int = 0
    table: tuple[int, ...] = ()

    @property
    def alphabet(self) -> int:
        """Number of symbols of the table, escape included."""
        return self.span + 1 + (1 if self.escape else 0)

    def frequencies(self) -> np.ndarray:
        """int64 [alphabet] frequencies summing to 2**16."""
        if self.kind == HISTOGRAM:
            return np.asarray(self.table, dtype=np.int64)
        values = np.arange(self.lo, self.lo + self.span + 1, dtype=np.int64)
        if self.kind == LAPLACE:
            weights = _pow_fixed(self.shape, np.abs(values - self.center))
        elif self.kind == GAUSSIAN:
            weights = _pow_fixed(self.shape, (values - self.center) ** 2)
        else:
            magnitude = np.abs(values)
            weights = _pow_fixed(self.shape, np.maximum(magnitude - 1, 0))
            nonzero_total = int(weights[magnitude > 0].sum())
            zero_weight = max(self.zero * nonzero_total // (PRECISION_TOTAL - self.zero), 1)
            weights = np.where(magnitude == 0, zero_weight, weights)
        weights = np.maximum(weights, 1)
        if self.escape:
            escape_weight = max(
                self.escape * int(weights.sum()) // (PRECISION_TOTAL - self.escape), 1
            )
            weights = np.append(weights, escape_weight)
        return quantize_weights(_fit_weights(weights)[None, :])[0]

    def write(self, out: FieldWriter) -> None:
        out.u8(self.kind)
        if self.kind == CONST:
            out.svarint(self.center)
            return
        out.svarint(self.lo).uvarint(self.span)
        if self.kind == HISTOGRAM:
            out.u8(1 if self.escape else 0)
            for f in self.table:
                out.uvarint(f)
            return
        out.u16(self.escape).u32(self.shape)
        if self.kind == ZERO_AWARE:
            out.u16(self.zero)
        else:
            out.svarint(self.center)

    @staticmethod
    def read(src: FieldReader) -> SymbolModel:
        kind = src.u8()
        if kind == CONST:
            return SymbolModel(CONST, center=src.svarint())
        if kind not in KIND_NAMES:
            raise BitstreamError(f"{src.what}: unknown symbol model kind {kind}")
        lo, span = src.svarint(), src.bounded_uvarint(MAX_SPAN, "model span")
        if kind == HISTOGRAM:
            has_escape = src.u8()
            size = span + 1 + (1 if has_escape else 0)
            table = tuple(src.bounded_uvarint(PRECISION_TOTAL, "frequency") for _ in range(size))
            if sum(table) != PRECISION_TOTAL or sum(1 for f in table if f) < 2:
                raise BitstreamError(f"{src.what}: histogram frequencies are damaged")
            return SymbolModel(HISTOGRAM, lo=lo, span=span, escape=has_escape, table=table)
        escape, shape = src.u16(), src.u32()
        if shape >= _ONE:
            raise BitstreamError(f"{src.what}: model shape parameter out of range")
        if kind == ZERO_AWARE:
            zero = src.u16()
            if not lo <= 0 <= lo + span or zero == 0:
                raise BitstreamError(f"{src.what}: zero-aware model is damaged")
            return SymbolModel(kind, lo=lo, span=span, shape=shape, zero=zero, escape=escape)
        return SymbolModel(kind, lo=lo, span=span, center=src.svarint(), shape=shape, escape=escape)


def _fit_weights(weights: np.ndarray) -> np.ndarray:
    """Scale weights down so that their sum stays below 2**45 (room for quantize_weights)."""
    total = int(weights.sum())
    shift = max(total.bit_length() - 45, 0)
    return np.maximum(weights >> shift, 1) if shift else weights


def _pow_fixed(base: int, exponent: np.ndarray) -> np.ndarray:
    """``2**31 * (base / 2**31) ** exponent`` for every exponent, by integer square-and-multiply."""
    result = np.full(exponent.shape, _ONE, dtype=np.int64)
    power = np.int64(base)
    remaining = exponent.astype(np.int64)
    while np.any(remaining):
        odd = (remaining & 1).astype(bool)
        result[odd] = (result[odd] * power) >> 31
        power = (power * power) >> 31
        remaining >>= 1
    return result


def _shape_param(ratio: float) -> int:
    return int(np.clip(round(ratio * _ONE), 1, _ONE - 1))


def _share(fraction: float) -> int:
    return int(np.clip(round(fraction * PRECISION_TOTAL), 1, PRECISION_TOTAL - 1))


def _range(values: np.ndarray, center: int, reach: float) -> tuple[int, int]:
    half = int(min(np.ceil(reach), MAX_SPAN // 2))
    return max(int(values[0]), center - half), min(int(values[-1]), center + half)


def _escape_share(values: np.ndarray, counts: np.ndarray, lo: int, hi: int) -> int:
    outside = int(counts[(values < lo) | (values > hi)].sum())
    return _share(outside / counts.sum()) if outside else 0


def histogram(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(values, counts)``: the distinct values of ``x`` (int64, ascending) and their counts."""
    lo, hi = int(x.min()), int(x.max())
    if hi - lo < 1 << 20:
        counts = np.bincount(x - lo, minlength=hi - lo + 1)
        present = np.flatnonzero(counts)
        return present + lo, counts[present]
    return np.unique(x, return_counts=True)


def _weighted_median(values: np.ndarray, counts: np.ndarray) -> int:
    cumulative = np.cumsum(counts)
    return int(values[np.searchsorted(cumulative, (cumulative[-1] - 1) // 2, side="right")])


def candidates(values: np.ndarray, counts: np.ndarray) -> list[SymbolModel]:
    """The models worth trying for a histogram (``values`` ascending, >= 2 of them; ``counts``)."""
    out = []
    n = float(counts.sum())
    center = _weighted_median(values, counts)
    mean_abs = float((np.abs(values - center) * counts).sum() / n)
    r = (np.sqrt(1.0 + mean_abs**2) - 1.0) / mean_abs if mean_abs > 0 else 1e-9
    lo, hi = _range(values, center, _TAIL_LOG2 / max(-np.log2(max(r, 1e-12)), 1e-9))
    out.append(
        SymbolModel(
            LAPLACE, lo, hi - lo, center, _shape_param(r), 0, _escape_share(values, counts, lo, hi)
        )
    )

    mean = int(np.round((values * counts).sum() / n))
    var = max(float((((values - mean) ** 2) * counts).sum() / n), 0.02)
    lo, hi = _range(values, mean, np.sqrt(2.0 * var * _TAIL_LOG2 * np.log(2.0)))
    out.append(
        SymbolModel(
            GAUSSIAN,
            lo,
            hi - lo,
            mean,
            _shape_param(np.exp(-0.5 / var)),
            0,
            _escape_share(values, counts, lo, hi),
        )
    )

    zeros = int(counts[values == 0].sum())
    if 0 < zeros < n:
        nonzero = values != 0
        m = float(((np.abs(values[nonzero]) - 1.0) * counts[nonzero]).sum() / (n - zeros))
        r = m / (1.0 + m) if m > 0 else 1e-9
        lo, hi = _range(values, 0, _TAIL_LOG2 / max(-np.log2(max(r, 1e-12)), 1e-9) + 1)
        lo, hi = min(lo, 0), max(hi, 0)
        out.append(
            SymbolModel(
                ZERO_AWARE,
                lo,
                hi - lo,
                0,
                _shape_param(r),
                _share(zeros / n),
                _escape_share(values, counts, lo, hi),
            )
        )

    lo, hi = int(values[0]), int(values[-1])
    if hi - lo > MAX_SPAN:
        cumulative = np.cumsum(counts) / n
        lo = int(values[np.searchsorted(cumulative, 0.0005)])
        hi = int(values[min(np.searchsorted(cumulative, 0.9995), values.size - 1)])
        lo, hi = max(lo, center - MAX_SPAN // 2), min(hi, center + MAX_SPAN // 2)
    inside = (values >= lo) & (values <= hi)
    table = np.zeros(hi - lo + 1, dtype=np.int64)
    table[values[inside] - lo] = counts[inside]
    escape = _escape_share(values, counts, lo, hi)
    if escape:
        table = np.append(table, int(counts[~inside].sum()))
    if np.count_nonzero(table) >= 2:
        table = quantize_weights(table[None, :])[0]
        out.append(
            SymbolModel(
                HISTOGRAM, lo, hi - lo, 0, 0, 0, 1 if escape else 0, tuple(int(f) for f in table)
            )
        )
    return [m for m in out if m.alphabet >= 2]


def symbols_of(model: SymbolModel, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(symbols int64 [N], escaped values int64 [E])`` of ``values`` under ``model``."""
    hi = model.lo + model.span
    outside = (values < model.lo) | (values > hi)
    symbols = np.where(outside, model.span + 1, values - model.lo)
    return symbols, values[outside]


def code_cost_bits(model: SymbolModel, values: np.ndarray, counts: np.ndarray) -> float:
    """Bits to code the histogram (``values``, ``counts``) with ``model``, side info included."""
    symbols, escaped = symbols_of(model, values)
    freqs = model.frequencies()
    if symbols.max() >= freqs.size or np.any(freqs[symbols] <= 0):
        return float("inf")
    header = FieldWriter()
    model.write(header)
    escape_bytes = sum(
        _svarint_size(int(v)) * int(c) for v, c in zip(escaped, counts[symbols > model.span])
    )
    symbol_bits = float(-(counts * np.log2(freqs[symbols] / PRECISION_TOTAL)).sum())
    return symbol_bits + 8.0 * (len(header.getvalue()) + escape_bytes)


def _svarint_size(value: int) -> int:
    zigzag = (value << 1) if value >= 0 else ((-value << 1) - 1)
    return max((zigzag.bit_length() + 6) // 7, 1)
