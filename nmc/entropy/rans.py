"""Range-asymmetric numeral system (rANS) coding of symbols with static frequency tables.

A thin, bounds-safe wrapper over compressai's C++ rANS coder (16-bit precision). Each symbol
is coded with one of several frequency tables, chosen per symbol by a table index. Tables are
integer frequencies summing to :data:`PRECISION_TOTAL`; a symbol with frequency 0 cannot occur.

compressai's own overflow ("bypass") path is never used: every table is passed with a
zero-width escape interval, so the decoder can only produce symbols inside the tables, and the
decoder's input is zero-padded so that damaged streams can never read past the buffer.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

from nmc.errors import DependencyError

PRECISION_BITS = 16
PRECISION_TOTAL = 1 << PRECISION_BITS
_INITIAL_STATE_BYTES = 16
# compressai sizes its output buffer at one 32-bit word per symbol and flushes a 64-bit
# state, so streams of fewer than 4 symbols overflow it: short streams are padded with the
# most probable symbol of table 0 (both sides know the true count and drop the padding).
_MIN_SYMBOLS = 8


def ans_extension() -> ModuleType:
    """compressai's ``ans`` extension, loaded without importing the ``compressai`` package.

    The package's ``__init__`` imports torch and its model zoo (about 1 GiB and 6 s per
    process); the rANS coder needs none of it.
    """
    loaded = sys.modules.get("compressai.ans")
    if loaded is not None:
        return loaded
    package = importlib.util.find_spec("compressai")
    if package is None or not package.submodule_search_locations:
        raise DependencyError("entropy coding needs compressai (pip install compressai)")
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = Path(package.submodule_search_locations[0]) / f"ans{suffix}"
        if path.is_file():
            spec = importlib.util.spec_from_file_location("compressai.ans", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            sys.modules["compressai.ans"] = module
            return module
    raise DependencyError("compressai is installed without its ans extension; reinstall it")


def cdf_lists(freqs: np.ndarray) -> tuple[list[list[int]], list[int]]:
    """Cumulative tables in compressai's layout: ``[0, c1, ..., 2**16, 2**16]`` per row."""
    rows, alphabet = freqs.shape
    cdf = np.zeros((rows, alphabet + 2), dtype=np.int64)
    np.cumsum(freqs, axis=1, out=cdf[:, 1 : alphabet + 1])
    cdf[:, alphabet + 1] = PRECISION_TOTAL
    return cdf.tolist(), [alphabet + 2] * rows


def rans_encode(symbols: np.ndarray, table_index: np.ndarray, freqs: np.ndarray) -> bytes:
    """Code ``symbols`` (int [N], each in [0, A)) with ``freqs[table_index[i]]``.

    ``freqs`` is int [T, A], each row summing to 2**16; the frequency of every coded symbol
    must be positive (checked). Returns the rANS byte stream (empty when N == 0).
    """
    if symbols.size == 0:
        return b""
    if np.any(freqs[table_index, symbols] <= 0):
        raise ValueError("a symbol to code has zero frequency in its table")
    symbols, table_index = _pad(symbols, freqs, table_index)
    cdfs, sizes = cdf_lists(freqs)
    return (
        ans_extension()
        .RansEncoder()
        .encode_with_indexes(symbols.tolist(), table_index.tolist(), cdfs, sizes, [0] * len(sizes))
    )


def rans_decode(data: bytes, table_index: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Decode ``len(table_index)`` symbols (int64 [N]) coded by :func:`rans_encode`.

    Never reads outside the buffer: a symbol consumes at most 16 bits, so the stream is padded
    with zeros up to ``2 N + 16`` bytes. Damaged input yields wrong symbols, never a crash;
    the callers' CRCs and consistency checks turn that into a ``BitstreamError``.
    """
    count = int(table_index.size)
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    _, table_index = _pad(None, freqs, table_index)
    need = 2 * table_index.size + _INITIAL_STATE_BYTES
    if len(data) < need:
        data = bytes(data) + bytes(need - len(data))
    cdfs, sizes = cdf_lists(freqs)
    decoded = (
        ans_extension()
        .RansDecoder()
        .decode_with_indexes(data, table_index.tolist(), cdfs, sizes, [0] * len(sizes))
    )
    return np.asarray(decoded[:count], dtype=np.int64)


class RansStreamDecoder:
    """Decode one :func:`rans_encode` stream in several passes, each with its own tables.

    For context models whose tables depend on symbols decoded in earlier passes: the encoder
    codes every pass's symbols in one call, in decode order; the decoder asks for them pass by
    pass. Reading is bounded exactly as in :func:`rans_decode`.

    Args:
        data: the stream.
        total: the number of symbols the encoder coded (all passes).
    """

    def __init__(self, data: bytes, total: int) -> None:
        need = 2 * max(total, _MIN_SYMBOLS) + _INITIAL_STATE_BYTES
        if len(data) < need:
            data = bytes(data) + bytes(need - len(data))
        self._left = total
        self._decoder = ans_extension().RansDecoder()
        self._decoder.set_stream(data)

    def decode(
        self, table_index: np.ndarray, tables: tuple[list[list[int]], list[int]]
    ) -> np.ndarray:
        """The next ``len(table_index)`` symbols (int64), symbol ``i`` from table
        ``table_index[i]`` of ``tables`` (:func:`cdf_lists` of int [T, A] frequencies, rows
        summing to 2**16; callers that decode many passes convert their tables once)."""
        count = int(table_index.size)
        if count > self._left:
            raise ValueError(f"asked for {count} symbols, {self._left} left in the stream")
        self._left -= count
        if count == 0:
            return np.zeros(0, dtype=np.int64)
        cdfs, sizes = tables
        decoded = self._decoder.decode_stream(table_index.tolist(), cdfs, sizes, [0] * len(sizes))
        return np.asarray(decoded, dtype=np.int64)


def _pad(
    symbols: np.ndarray | None, freqs: np.ndarray, table_index: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray]:
    missing = _MIN_SYMBOLS - table_index.size
    if missing <= 0:
        return symbols, table_index
    table_index = np.concatenate([table_index, np.zeros(missing, dtype=np.int64)])
    if symbols is not None:
        filler = np.full(missing, int(np.argmax(freqs[0])), dtype=np.int64)
        symbols = np.concatenate([symbols, filler])
    return symbols, table_index


def quantize_weights(weights: np.ndarray) -> np.ndarray:
    """Integer frequencies (int64 [R, A], rows summing to 2**16) proportional to ``weights``.

    ``weights`` is non-negative int64 [R, A >= 2] with at least one positive entry per row and
    row sums below 2**46. Every positive weight gets a frequency >= 1, zero weights get 0, except
    that a row with a single positive weight also gives frequency 1 to one other symbol (the
    coder cannot represent probability 1). Pure integer arithmetic (largest-remainder rounding,
    ties to the lower index), so encoder and decoder build identical tables on every machine.
    """
    weights = np.array(weights, dtype=np.int64)
    if weights.ndim != 2 or weights.shape[1] < 2:
        raise ValueError(f"weights must be [rows, alphabet >= 2], got shape {weights.shape}")
    lonely = np.flatnonzero((weights > 0).sum(axis=1) == 1)
    if lonely.size:
        partner = (weights[lonely, 0] > 0).astype(np.int64)
        weights[lonely] = np.where(weights[lonely] > 0, PRECISION_TOTAL - 1, 0)
        weights[lonely, partner] = 1
    nonzero = weights > 0
    count = nonzero.sum(axis=1, keepdims=True)
    if np.any(count == 0) or np.any(count > PRECISION_TOTAL // 2):
        raise ValueError("each row needs between 1 and 32768 positive weights")
    total = weights.sum(axis=1, keepdims=True)
    spread = PRECISION_TOTAL - count
    scaled = weights * spread
    freqs = scaled // total + nonzero
    remainder = scaled % total
    deficit = PRECISION_TOTAL - freqs.sum(axis=1, keepdims=True)
    order = np.argsort(-remainder, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(weights.shape[1])[None, :], axis=1)
    return freqs + (rank < deficit)
